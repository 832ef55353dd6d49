"""Linear algebra beyond ``linalg.py``: the options of ``svd`` and ``qr``, ``eigvalsh``, ``eig``,
``pinv``, ``lstsq`` and ``scipy.linalg``'s ``expm``, ``solve_triangular``, ``cholesky``,
``cho_factor`` and ``cho_solve``.

What Numba does not compile is a helper of ``sourcead_runtime`` (``runtime/linalg.py``) that
generated code calls in its place (``calls``, as ``special.py`` does for ``scipy.special``):
``np.linalg.svd(a, compute_uv=False)`` is ``linalg_svd_values(a, False)``,
``np.linalg.qr(a, mode="r")`` is ``linalg_qr_r(a, "r")``, ``scipy.linalg.expm(a)`` is
``linalg_expm(a)`` (scaling and squaring with Padé 13, as SciPy's), ``np.linalg.eig(a)`` is
``eig_complex(a)`` (complex eigenvalues and eigenvectors of a real matrix),
``scipy.linalg.cho_solve((c, True), b)`` is ``linalg_cho_solve(c, b, lower=True)``
(``cholesky_calls.py`` takes the tuple apart).

Complex matrices follow JAX's convention (``docs/arrays.md``): the adjoint of a holomorphic
function (``expm``, ``solve_triangular``) is its transpose, without conjugates; where the
result is not holomorphic (``eigvalsh`` of a Hermitian matrix), the adjoint is the conjugate
of the one written with Hermitian transposes. The tangent rules call helpers of the runtime
(``tangent_eigvalsh`` …): tangents are never differentiated again, adjoints are (``hvp``), so
the adjoints are written with NumPy and helpers that have tangent rules of their own.
"""

import numpy as np
import scipy.linalg
from sourcead_runtime import (
    apply_trans,
    cho_gram_tangent,
    cholesky_form,
    cholesky_tangent,
    eig_complex,
    eig_tangent_v,
    eig_tangent_w,
    expm_frechet,
    expm_frechet_along_m,
    linalg_cho_factor,
    linalg_cho_solve,
    linalg_cholesky,
    linalg_eigvals,
    linalg_expm,
    linalg_qr_r,
    linalg_solve_triangular,
    linalg_svd_values,
    lstsq_tangent_residuals,
    lstsq_tangent_x,
    matmul_adjoint_left,
    residual_share,
    tangent_eigvals,
    tangent_eigvalsh,
    tangent_pinv,
    tangent_qr_r,
    tangent_svd_values,
    triangular_matrix,
    triangular_part,
)

from ..analysis.types import BOOL, INT, Array, TupleType
from . import cholesky_calls, shapes
from .library import Option, calls
from .registry import register

# --- what generated code calls ----------------------------------------------------------------

calls(
    np.linalg.svd,
    signature=("a", "full_matrices", "compute_uv", "hermitian"),
    options={
        "full_matrices": Option(True, "flag"),
        "compute_uv": Option(True, "flag"),
        "hermitian": Option(False, "default"),
    },
    variants={"compute_uv": linalg_svd_values},
)
calls(
    np.linalg.qr,
    signature=("a", "mode"),
    options={"mode": Option("reduced", "value")},
    variants={"mode": linalg_qr_r},
)
calls(np.linalg.eig, signature=("a",), helper=eig_complex)
calls(np.linalg.eigvals, signature=("a",), helper=linalg_eigvals)
calls(scipy.linalg.expm, signature=("A",), helper=linalg_expm)
calls(
    scipy.linalg.solve_triangular,
    signature=(
        "a", "b", "trans", "lower", "unit_diagonal", "overwrite_b", "check_finite"
    ),
    arguments=2,
    options={
        "trans": Option(0, "number"),
        "lower": Option(False, "flag"),
        "unit_diagonal": Option(False, "flag"),
        "overwrite_b": Option(False, "ignored"),  # (the inputs are never overwritten)
        "check_finite": Option(True, "ignored"),
    },
    helper=linalg_solve_triangular,
)  # fmt: skip
_FACTOR_OPTIONS = {
    "lower": Option(False, "flag"),
    "overwrite_a": Option(False, "ignored"),
    "check_finite": Option(True, "ignored"),
}
calls(
    scipy.linalg.cholesky,
    signature=("a", "lower", "overwrite_a", "check_finite"),
    options=_FACTOR_OPTIONS,
    helper=linalg_cholesky,
)
calls(
    scipy.linalg.cho_factor,
    signature=("a", "lower", "overwrite_a", "check_finite"),
    options=_FACTOR_OPTIONS,
    helper=linalg_cho_factor,
)
calls(
    scipy.linalg.cho_solve,
    # (c, lower) comes apart first: cho_solve_helper(c, b, lower=...) (cholesky_calls.py)
    signature=("c", "b", "overwrite_b", "check_finite", "lower"),
    arguments=2,
    options={
        "overwrite_b": Option(False, "ignored"),
        "check_finite": Option(True, "ignored"),
        "lower": Option(False, "flag"),
    },
    helper=linalg_cho_solve,
    prepare=cholesky_calls.cho_solve_arguments,
)


# --- result types ---------------------------------------------------------------------------------


def _matrix(args: list, what: str, square: bool = False) -> Array:
    """The first argument, a matrix; ArrayTypeProblem (at the user's line) otherwise."""
    a = args[0] if args else None
    if not isinstance(a, Array) or a.ndim != 2:
        kind = "square matrix" if square else "matrix"
        raise shapes.ArrayTypeProblem(f"{what} of something other than a {kind}")
    return a


def _constant(node, position: int, name: str):
    """The value of the constant the call passes at ``position`` or as ``name``, or None."""
    value = node.args[position] if len(node.args) > position else None
    value = next((k.value for k in node.keywords if k.arg == name), value)
    return getattr(value, "value", None)


def _values(args: list, node) -> Array:
    """``eigvalsh``, ``svd(compute_uv=False)``: a real vector."""
    a = _matrix(args, "np.linalg.eigvalsh or np.linalg.svd")
    return Array(shapes.real_dtype(shapes.result_dtype([a], floating=True)), 1)


def _r_factor(args: list, node) -> Array:
    """``qr(a, mode="r")``: the R factor; the other modes refused."""
    a = _matrix(args, "np.linalg.qr")
    mode = _constant(node, 1, "mode")
    if mode != "r":
        raise shapes.ArrayTypeProblem(
            f"np.linalg.qr with mode={mode!r} (sourcead takes mode='reduced' and mode='r')"
            if isinstance(mode, str)
            else "np.linalg.qr with a mode other than a string written in the call"
        )
    return Array(shapes.result_dtype([a], floating=True), 2)


def _square(args: list, node) -> Array:
    a = _matrix(args, "scipy.linalg.expm", square=True)
    return Array(shapes.result_dtype([a], floating=True), 2)


def _triangular_solution(args: list, node) -> Array:
    _matrix(args, "scipy.linalg.solve_triangular")
    if len(args) < 2 or not isinstance(args[1], Array) or args[1].ndim not in (1, 2):
        raise shapes.ArrayTypeProblem(
            "scipy.linalg.solve_triangular of a right-hand side other than a vector or matrix"
        )
    trans = _constant(node, 2, "trans")
    if trans not in (None, 0, 1, 2) or isinstance(trans, bool):
        raise shapes.ArrayTypeProblem(
            f"scipy.linalg.solve_triangular with trans={trans!r} (sourcead takes 0, 1 or 2)"
        )
    return Array(shapes.result_dtype(args[:2], floating=True), args[1].ndim)


def _positive_definite(args: list, what: str) -> Array:
    """A square matrix, real symmetric or complex Hermitian."""
    a = _matrix(args, what, square=True)
    return Array(shapes.result_dtype([a], floating=True), 2)


def _cholesky_factor(args: list, node) -> Array:
    return _positive_definite(args, "scipy.linalg.cholesky")


def _cho_factor(args: list, node) -> TupleType:
    """``cho_factor``: the factor and the flag ``lower``."""
    return TupleType((_positive_definite(args, "scipy.linalg.cho_factor"), BOOL))


def _cho_solution(args: list, node) -> Array:
    c = _positive_definite(args, "scipy.linalg.cho_solve")
    b = args[1] if len(args) > 1 else None
    if not isinstance(b, Array) or b.ndim not in (1, 2):
        raise shapes.ArrayTypeProblem(
            "scipy.linalg.cho_solve of a right-hand side other than a vector or matrix"
        )
    return Array(shapes.result_dtype([c, b], floating=True), b.ndim)


def _real_matrix(args: list, what: str) -> Array:
    a = _matrix(args, what)
    if a.kind == "complex":
        raise shapes.ArrayTypeProblem(
            f"{what} of a complex array (sourcead differentiates it for real matrices)"
        )
    return a


def _eigen_complex(args: list, node) -> TupleType:
    """``eig``: complex eigenvalues and eigenvectors (complex128) of a real matrix."""
    _real_matrix(args, "np.linalg.eig")
    return TupleType((Array("complex128", 1), Array("complex128", 2)))


def _eigenvalues_complex(args: list, node) -> Array:
    _real_matrix(args, "np.linalg.eigvals")
    return Array("complex128", 1)


def _pseudo_inverse(args: list, node) -> Array:
    a = _real_matrix(args, "np.linalg.pinv")
    return Array(shapes.result_dtype([a], floating=True), 2)


def _least_squares(args: list, node) -> TupleType:
    """``lstsq(a, b)``: the solution, the residuals, the rank and the singular values."""
    _real_matrix(args, "np.linalg.lstsq")
    if len(args) < 2 or not isinstance(args[1], Array) or args[1].ndim not in (1, 2):
        raise shapes.ArrayTypeProblem("np.linalg.lstsq of a b other than a vector or matrix")
    dtype = shapes.result_dtype(args[:2], floating=True)
    return TupleType((Array(dtype, args[1].ndim), Array(dtype, 1), INT, Array(dtype, 1)))


# --- eigenvalues -------------------------------------------------------------------------------


@register(np.linalg.eigvalsh, device=False, result=_values)
class Eigvalsh:
    # a = v diag(w) v^H perturbed Hermitian: dw = Re diag(v^H da v); the adjoint v diag(b) v^H,
    # conjugated (JAX's convention)
    def array_adjoint(b_out, a):
        w, v = np.linalg.eigh(a)
        return (np.conj(v) * b_out.reshape(1, b_out.size)) @ np.ascontiguousarray(v.T)

    def array_tangent(da, a):
        return tangent_eigvalsh(da, a)


@register(eig_complex, device=False, complex=False, result=_eigen_complex, outputs=2)
class Eig:
    # holomorphic in a: dw = diag(v^-1 da v), dv = v (F * (v^-1 da v)) (F_ij = 1 / (w_j - w_i),
    # zero on the diagonal: the gauge of the eigenvectors' scaling); the adjoint is its
    # transpose, v^-T (diag(b_w) + F * (v^T b_v)) v^T, real for a real matrix
    def array_adjoint(b_w, b_v, a):
        w, v = eig_complex(a)
        gaps = w.reshape(1, w.size) - w.reshape(w.size, 1)
        same = gaps == 0.0
        f = (1.0 - same) / (gaps + same)
        vt = np.ascontiguousarray(v.T)
        inner = np.diag(b_w) + f * (vt @ b_v)
        return np.real(np.linalg.solve(vt, inner @ vt))

    def array_tangent(da, a, *, w, v):
        return eig_tangent_w(da, w, v), eig_tangent_v(da, w, v)


@register(linalg_eigvals, device=False, complex=False, result=_eigenvalues_complex)
class Eigvals:
    def array_adjoint(b_out, a):
        w, v = eig_complex(a)
        vt = np.ascontiguousarray(v.T)
        return np.real(np.linalg.solve(vt, np.diag(b_out) @ vt))

    def array_tangent(da, a):
        return tangent_eigvals(da, a)


# --- the factors alone -------------------------------------------------------------------------


@register(linalg_svd_values, device=False, result=_values)
class SvdValues:
    # ds = Re diag(u^H da v): the adjoint u diag(b) v^H, conjugated (JAX's convention)
    def array_adjoint(b_out, a, compute_uv=False, full_matrices=True):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return np.conj(u * b_out.reshape(1, b_out.size)) @ np.conj(vh)

    def array_tangent(da, a, compute_uv=False, full_matrices=True):
        return tangent_svd_values(da, a)


@register(linalg_qr_r, device=False, result=_r_factor)
class QrR:
    # the R factor of the reduced QR (linalg.Qr's adjoint without q's)
    def array_adjoint(b_out, a, mode="r"):
        q, r = np.linalg.qr(a)
        m = r @ np.ascontiguousarray(b_out.T)
        low = np.tril(m, -1)
        copied = low + np.conj(np.ascontiguousarray(low.T)) + np.diag(np.real(np.diag(m)))
        rhs = np.conj(q @ copied)
        return np.ascontiguousarray(np.linalg.solve(r, np.ascontiguousarray(rhs.T)).T)

    def array_tangent(da, a, mode="r"):
        return tangent_qr_r(da, a)


# --- pseudo-inverse, least squares -------------------------------------------------------------


@register(np.linalg.pinv, device=False, complex=False, result=_pseudo_inverse)
class Pinv:
    # at constant rank (Golub and Pereyra 1973); a rank that changes has no derivative
    # -p^T g p^T + (I - a p) g^T p p^T + p^T p g^T (I - p a), with p = pinv(a)
    def array_adjoint(b_out, a):
        p = np.linalg.pinv(a)
        pt = np.ascontiguousarray(p.T)
        gt = np.ascontiguousarray(b_out.T)
        return -(pt @ b_out @ pt) + (gt - a @ (p @ gt)) @ (p @ pt) + (pt @ p) @ (gt - (gt @ p) @ a)

    def array_tangent(da, a):
        return tangent_pinv(da, a)


@register(np.linalg.lstsq, device=False, complex=False, result=_least_squares, outputs=4)
class Lstsq:
    # x = pinv(a) b; the residuals sum(|b - a x|^2) per column are stationary in x, so their
    # derivative is 2 r^T (db - da x); the singular values as svd's; the rank has none
    def array_adjoint(b_x, b_residuals, b_rank, b_s, a, b):
        p = np.linalg.pinv(a)
        x = p @ b
        share = residual_share(b - a @ x, b_residuals)
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        pt = np.ascontiguousarray(p.T)
        g = matmul_adjoint_left(b_x, p, b)  # the adjoint of p, then as Pinv's
        gt = np.ascontiguousarray(g.T)
        b_a = -(pt @ g @ pt) + (gt - a @ (p @ gt)) @ (p @ pt) + (pt @ p) @ (gt - (gt @ p) @ a)
        b_a = b_a - matmul_adjoint_left(share, a, x) + (u * b_s.reshape(1, b_s.size)) @ vh
        return b_a, pt @ b_x + share

    def array_tangent(da, db, a, b, *, x, residuals, rank, s):
        return (
            lstsq_tangent_x(da, db, a, b),
            lstsq_tangent_residuals(da, db, a, b, residuals),
            None,
            tangent_svd_values(da, a),
        )


# --- scipy.linalg ------------------------------------------------------------------------------


@register(linalg_expm, device=False, result=_square)
class Expm:
    # the adjoint of a holomorphic matrix function: its Fréchet derivative at a^T along b_out
    def array_adjoint(b_out, a):
        return expm_frechet(np.ascontiguousarray(a.T), b_out)

    def array_tangent(da, a):
        return expm_frechet(a, da)


@register(linalg_solve_triangular, device=False, result=_triangular_solution)
class SolveTriangular:
    # x = m^-1 b with m = triangular_matrix(a): as np.linalg.solve's, then back through the
    # triangle and the transposition (each its own adjoint)
    def array_adjoint(b_out, a, b, trans=0, lower=False, unit_diagonal=False):
        m = triangular_matrix(a, trans, lower, unit_diagonal)
        x = np.linalg.solve(m, b)
        b_b = np.linalg.solve(np.ascontiguousarray(m.T), b_out)
        b_m = -matmul_adjoint_left(b_b, m, x)
        return triangular_part(apply_trans(b_m, trans), lower, unit_diagonal), b_b

    def array_tangent(da, db, a, b, trans=0, lower=False, unit_diagonal=False):
        return linalg_solve_triangular(
            a,
            db
            - apply_trans(triangular_part(da, lower, unit_diagonal), trans)
            @ linalg_solve_triangular(a, b, trans, lower, unit_diagonal),
            trans,
            lower,
            unit_diagonal,
        )


# --- Cholesky: scipy.linalg.cholesky, cho_factor, cho_solve -------------------------------------
# a = L L^H read from one triangle of a; the factor c is L (lower=True) or U = L^H, and
# cholesky_form(c, lower) is L either way. The adjoints are np.linalg.cholesky's (Hermitian:
# right for a Hermitian a perturbed Hermitian; L^H is L^T for real matrices), the tangents
# those of herm(da). Complex adjoints follow JAX's convention (the transposes of the tangents
# under the pairing sum(x * y)).


@register(linalg_cholesky, device=False, result=_cholesky_factor)
class CholeskyFactor:
    # np.linalg.cholesky's adjoint of L's adjoint: p = tril(L^T g) with its diagonal halved,
    # herm(L^-T p conj(L^-1))
    def array_adjoint(b_out, a, lower=False):
        low = cholesky_form(linalg_cholesky(a, lower), lower)
        p = np.tril(np.ascontiguousarray(low.T) @ cholesky_form(b_out, lower))
        p = p - 0.5 * np.diag(np.diag(p))
        low_inv = np.linalg.inv(low)
        s = np.ascontiguousarray(low_inv.T) @ p @ np.conj(low_inv)
        return 0.5 * (s + np.conj(np.ascontiguousarray(s.T)))

    def array_tangent(da, a, lower=False):
        return cholesky_tangent(da, linalg_cholesky(a, lower), lower)


@register(linalg_cho_factor, device=False, result=_cho_factor, outputs=2)
class ChoFactor:
    # the factor as CholeskyFactor's; the flag has no derivative
    def array_adjoint(b_c, b_lower, a, lower=False):
        low = cholesky_form(linalg_cholesky(a, lower), lower)
        p = np.tril(np.ascontiguousarray(low.T) @ cholesky_form(b_c, lower))
        p = p - 0.5 * np.diag(np.diag(p))
        low_inv = np.linalg.inv(low)
        s = np.ascontiguousarray(low_inv.T) @ p @ np.conj(low_inv)
        return 0.5 * (s + np.conj(np.ascontiguousarray(s.T)))

    def array_tangent(da, a, *, c, lower):
        return cholesky_tangent(da, c, lower), None


@register(linalg_cho_solve, device=False, result=_cho_solution, linear_in=(1,))
class ChoSolve:
    # x = m^-1 b with m = L L^H, L from c's triangle: as np.linalg.solve's (b_b = m^-T b_out,
    # b_m = -b_b x^T), then b_L = (b_m + conj(b_m^T)) conj(L), back through
    # the conjugate transposition and the triangle
    def array_adjoint(b_out, c, b, lower=False):
        low = cholesky_form(triangular_part(c, lower, False), lower)
        x = linalg_cho_solve(c, b, lower)
        b_b = np.conj(linalg_cho_solve(c, np.conj(b_out), lower))  # m^-T = conj(m^-1)
        b_m = -matmul_adjoint_left(b_b, low, x)
        b_low = (b_m + np.conj(np.ascontiguousarray(b_m.T))) @ np.conj(low)
        return triangular_part(cholesky_form(b_low, lower), lower, False), b_b

    def array_tangent(dc, db, c, b, lower=False):
        # dx = m^-1 (db - dm x), dm = dL L^H + L dL^H
        return linalg_cho_solve(
            c, db - cho_gram_tangent(dc, c, lower) @ linalg_cho_solve(c, b, lower), lower
        )


# --- helpers of the adjoints above (forward mode meets them in hvp and hessian) ---------------


@register(
    cholesky_form, result=shapes.like_first_array, linear_in=(0,), forward_only=True,
    new_array=True,
)  # fmt: skip
class CholeskyForm:
    def tangent(dm, dlower, m, lower):
        return cholesky_form(dm, lower)


@register(cho_gram_tangent, result=shapes.like_first_array, linear_in=(0,), forward_only=True)
class ChoGramTangent:
    # (met only inside ChoSolve's tangent, for the fold of a zero dc: differentiated no further)
    pass


@register(expm_frechet, result=shapes.like_first_of_both, linear_in=(1,), forward_only=True)
class ExpmFrechet:
    def tangent(dm, de, m, e):
        return expm_frechet(m, de) + expm_frechet_along_m(m, e, dm)


@register(expm_frechet_along_m, result=shapes.like_first_of_both, linear_in=(2,), forward_only=True)
class ExpmFrechetAlongM:
    # (met only inside ExpmFrechet's tangent: differentiated no further)
    pass


@register(triangular_matrix, result=shapes.like_first_array, forward_only=True, new_array=True)
class TriangularMatrix:
    # (its unit diagonal is constant)
    def tangent(da, dtrans, dlower, dunit, a, trans, lower, unit_diagonal):
        return apply_trans(triangular_part(da, lower, unit_diagonal), trans)


@register(
    triangular_part, result=shapes.like_first_array, linear_in=(0,), forward_only=True,
    new_array=True,
)  # fmt: skip
class TriangularPart:
    def tangent(da, dlower, dunit, a, lower, unit_diagonal):
        return triangular_part(da, lower, unit_diagonal)


@register(
    apply_trans, result=shapes.like_first_array, linear_in=(0,), forward_only=True,
    new_array=True,
)  # fmt: skip
class ApplyTrans:
    def tangent(da, dtrans, a, trans):
        return apply_trans(da, trans)


@register(
    residual_share, result=shapes.like_first_array, linear_in=(0, 1), forward_only=True,
    new_array=True,
)  # fmt: skip
class ResidualShare:
    def tangent(dr, db_residuals, r, b_residuals):
        return residual_share(dr, b_residuals) + residual_share(r, db_residuals)
