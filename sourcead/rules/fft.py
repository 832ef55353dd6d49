"""Fast Fourier transforms: ``np.fft`` and ``scipy.fft``'s ``fft``, ``ifft``, ``rfft``, ``irfft``,
``fft2``, ``ifft2``, ``fftn``, ``ifftn``, ``fftshift`` and ``ifftshift``; the sample frequencies
``fftfreq`` and ``rfftfreq``.

Generated code calls helpers of ``sourcead_runtime`` (``runtime/fft.py``) in their place
(``calls`` below; ``library.py`` rewrites the call): ``np.fft.fft(x, axis=0, norm="ortho")``
is ``fft_along(x, axis=0, norm="ortho")`` there, and a call with a length ``n``
(``np.fft.rfft(x, 16)``) calls the ``_sized`` helper, which takes ``n`` as an argument so
that its type is checked. The helpers are the primitives of the entries here.

Every transform is linear: its tangent is the transform of the tangent. Its adjoint follows
JAX's convention for complex numbers (``docs/arrays.md``): the transpose, which for the
symmetric DFT matrix is the transform itself with the same ``norm`` (``fft_adjoint``), not
``n * ifft`` (the conjugate transpose); a real input gets the real part. The adjoints of
``rfft`` and ``irfft`` account for the half spectrum (``runtime/fft.py``). ``fftshift`` and
``ifftshift`` are permutations, each the other's adjoint. The frequencies, ``fftfreq(n, 1) / d``,
have a derivative in the sample spacing ``d`` alone. The adjoint helpers are linear in
the adjoint, which is their tangent rule (second derivatives, ``hvp``).

Refused, at the line of the call: at ``grad()`` time (``library.py``), axes of ``fftn``-like
functions and shifts not written in the call, ``s=`` of ``fft2``/``fftn`` and their inverses,
``out=`` and ``plan=``; at the first call, where the types say so (the result rules below): a
number for the array, an axis not written in the call or None, an axis out of range,
``norm=`` other than ``"backward"``, ``"ortho"``, ``"forward"`` or None written in the call,
``n=`` other than an integer, ``rfft`` of a complex array.
"""

import gast
import numpy as np
import scipy.fft
from sourcead_runtime import (
    fft2_along,
    fft_adjoint,
    fft_along,
    fft_sized,
    fftn_adjoint,
    fftn_along,
    fftshift_adjoint,
    fftshift_along,
    ifft2_along,
    ifft_adjoint,
    ifft_along,
    ifft_sized,
    ifftn_adjoint,
    ifftn_along,
    ifftshift_adjoint,
    ifftshift_along,
    irfft_adjoint,
    irfft_along,
    irfft_sized,
    rfft_adjoint,
    rfft_along,
    rfft_sized,
)

from ..analysis.types import Array, Scalar
from . import shapes
from .library import Option, calls
from .registry import register

# --- what generated code calls ----------------------------------------------------------------

_NO_OUT = {"out": Option(None, "default")}
# scipy.fft's options that do not change the result (written as constants), and its plans
_SCIPY = {
    "overwrite_x": Option(False, "ignored"),
    "workers": Option(None, "ignored"),
    "plan": Option(None, "default"),
}

for _module, _array, _extra in ((np.fft, "a", _NO_OUT), (scipy.fft, "x", _SCIPY)):
    for _name, _along, _sized in (
        ("fft", fft_along, fft_sized),
        ("ifft", ifft_along, ifft_sized),
        ("rfft", rfft_along, rfft_sized),
        ("irfft", irfft_along, irfft_sized),
    ):
        calls(
            getattr(_module, _name),
            signature=(_array, "n", "axis", "norm", *_extra),
            options={
                "n": Option(None, "value"),
                "axis": Option(-1, "value"),  # (an integer: checked by the result rule)
                "norm": Option(None, "value"),
                **_extra,
            },
            helper=_along,
            variants={"n": _sized},
        )
    for _name, _helper, _default in (
        ("fftn", fftn_along, None),
        ("ifftn", ifftn_along, None),
        ("fft2", fft2_along, (-2, -1)),
        ("ifft2", ifft2_along, (-2, -1)),
    ):
        calls(
            getattr(_module, _name),
            signature=(_array, "s", "axes", "norm", *_extra),
            options={
                "s": Option(None, "default"),
                "axes": Option(_default, "axes"),
                "norm": Option(None, "value"),
                **_extra,
            },
            helper=_helper,
        )
    calls(
        _module.fftshift,
        signature=("x", "axes"),
        options={"axes": Option(None, "axes")},
        helper=fftshift_along,
    )
    calls(
        _module.ifftshift,
        signature=("x", "axes"),
        options={"axes": Option(None, "axes")},
        helper=ifftshift_along,
    )
    for _name in ("fftfreq", "rfftfreq"):
        calls(
            getattr(_module, _name),
            signature=("n", "d"),
            arguments=2,
            prepare=lambda parsed, call, spelled: _spacing_written(call),
        )
del _module, _array, _extra, _name, _along, _sized, _helper, _default


def _spacing_written(call: gast.Call) -> gast.Call:
    """``np.fft.fftfreq(n)`` as ``np.fft.fftfreq(n, 1.0)``: the sample spacing ``d``, which
    the frequencies have a derivative in, always given."""
    if len(call.args) < 2 and not any(k.arg == "d" for k in call.keywords):
        one = gast.copy_location(gast.Constant(value=1.0, kind=None), call)
        call = gast.copy_location(
            gast.Call(func=call.func, args=[*call.args, one], keywords=call.keywords), call
        )
    return call


# --- result types ---------------------------------------------------------------------------------

_NORMS = (None, "backward", "ortho", "forward")


def _option(node, name: str, position: int):
    """The call's option ``name``: by keyword (as the rewrite passes it) or at ``position``
    (as the adjoint and tangent rules pass it to the helpers)."""
    value = next((k.value for k in node.keywords if k.arg == name), None)
    if value is None and len(node.args) > position:
        value = node.args[position]
    return value


def _is_none(node) -> bool:
    return isinstance(node, gast.Constant) and node.value is None


def _in_range(axes: tuple, ndim: int, what: str) -> None:
    if not all(-ndim <= a < ndim for a in axes):
        raise shapes.ArrayTypeProblem(f"{what} of a {ndim}-d array (it transforms axes {axes})")


def _axis_checked(written, ndim: int, what: str) -> None:
    """One axis written in the call (-1 where it is not)."""
    if written is None:
        _in_range((-1,), ndim, what)
    elif _is_none(written):
        raise shapes.ArrayTypeProblem(f"{what} with axis=None (it takes one axis)")
    else:
        shapes.reduced_axes(written, ndim, what, single=True)


def _axes_checked(written, ndim: int, what: str, default, tuples: bool) -> None:
    """None (every axis) or a tuple of axes written in the call (an integer too where not
    ``tuples``: the shifts), or ``default`` where it is not."""
    if written is None:
        if default is not None:
            _in_range(default, ndim, what)
    elif not _is_none(written):
        if tuples and not isinstance(written, gast.Tuple):
            raise shapes.ArrayTypeProblem(f"{what} with axes= other than a tuple of integers")
        shapes.reduced_axes(written, ndim, what)


def _norm_checked(norm, what: str) -> None:
    if norm is None or (isinstance(norm, gast.Constant) and norm.value in _NORMS):
        return
    choices = ", ".join(repr(n) for n in _NORMS)
    raise shapes.ArrayTypeProblem(f"{what} with norm= other than {choices} written in the call")


def _complex_of(dtype: str) -> str:
    return "complex64" if dtype in ("float32", "complex64") else "complex128"


def _real_of(dtype: str) -> str:
    return "float32" if dtype in ("float32", "complex64") else "float64"


def _input(args: list, what: str) -> Array | None:
    x = args[0] if args else None
    if isinstance(x, Scalar):
        raise shapes.ArrayTypeProblem(f"{what} of a number (it transforms arrays)")
    return x if isinstance(x, Array) else None


def _transform(what: str, sized: bool = False, real: str = ""):
    """The result rule of the one-axis transform ``what`` (as the user spells it): complex,
    of the input's precision and number of dimensions (``real`` "output": real, ``irfft``;
    "input": a real input, ``rfft``). ``sized``: the length ``n`` is the second argument."""
    position = 2 if sized else 1

    def rule(args: list, node):
        x = _input(args, what)
        if x is None:
            return None
        if sized and not (len(args) > 1 and isinstance(args[1], Scalar) and args[1].kind == "int"):
            raise shapes.ArrayTypeProblem(f"{what} with n= other than an integer")
        if real == "input" and x.kind == "complex":
            raise shapes.ArrayTypeProblem(f"{what} of a complex array (it takes real arrays)")
        _axis_checked(_option(node, "axis", position), x.ndim, what)
        _norm_checked(_option(node, "norm", position + 1), what)
        return Array(_real_of(x.dtype) if real == "output" else _complex_of(x.dtype), x.ndim)

    rule.__name__ = f"{what.rpartition('.')[2]}_result"
    return rule


def _transform_n(what: str, default):
    """The result rule of ``fftn``-like ``what``: complex, shaped like the input."""

    def rule(args: list, node):
        x = _input(args, what)
        if x is None:
            return None
        _axes_checked(_option(node, "axes", 1), x.ndim, what, default, tuples=True)
        _norm_checked(_option(node, "norm", 2), what)
        return Array(_complex_of(x.dtype), x.ndim)

    rule.__name__ = f"{what.rpartition('.')[2]}_result"
    return rule


def _shifted(what: str):
    """The result rule of a shift: the input's type."""

    def rule(args: list, node):
        x = _input(args, what)
        if x is not None:
            _axes_checked(_option(node, "axes", 1), x.ndim, what, None, tuples=False)
        return x

    rule.__name__ = f"{what.rpartition('.')[2]}_result"
    return rule


def _adjoint_type(args: list, node) -> Array:
    """``fft_adjoint(g, x, …)``: shaped like ``x``; complex where ``x`` is, else real, in the
    precision of both."""
    g, x = args[0], args[1]
    dtype = shapes.result_dtype([g, x])
    return Array(_complex_of(dtype) if x.kind == "complex" else _real_of(dtype), x.ndim)


# --- the transforms -------------------------------------------------------------------------------
# Adjoints and tangents pass the options to helpers by position (forward mode over an adjoint,
# hvp, reads None only so). The DFT matrix is symmetric: with JAX's convention a transform's
# adjoint is the transform itself (the helpers cut or pad it back to the input's length, and
# take its real part for a real input).


@register(fft_along, result=_transform("np.fft.fft"), linear_in=(0,), device=False)
class Fft:
    def adjoint(b_out, x, axis=-1, norm=None):
        return fft_adjoint(b_out, x, None, axis, norm)

    def tangent(dx, x, axis=-1, norm=None):
        return fft_along(dx, axis, norm)


@register(fft_sized, result=_transform("np.fft.fft", sized=True), linear_in=(0,), device=False)
class FftSized:
    def adjoint(b_out, x, n, axis=-1, norm=None):
        return fft_adjoint(b_out, x, n, axis, norm), None

    def tangent(dx, dn, x, n, axis=-1, norm=None):
        return fft_sized(dx, n, axis, norm)


@register(ifft_along, result=_transform("np.fft.ifft"), linear_in=(0,), device=False)
class Ifft:
    def adjoint(b_out, x, axis=-1, norm=None):
        return ifft_adjoint(b_out, x, None, axis, norm)

    def tangent(dx, x, axis=-1, norm=None):
        return ifft_along(dx, axis, norm)


@register(ifft_sized, result=_transform("np.fft.ifft", sized=True), linear_in=(0,), device=False)
class IfftSized:
    def adjoint(b_out, x, n, axis=-1, norm=None):
        return ifft_adjoint(b_out, x, n, axis, norm), None

    def tangent(dx, dn, x, n, axis=-1, norm=None):
        return ifft_sized(dx, n, axis, norm)


@register(rfft_along, result=_transform("np.fft.rfft", real="input"), linear_in=(0,), device=False)
class Rfft:
    # the first n // 2 + 1 bins of fft: the adjoint padded with zeros to n bins, transformed
    def adjoint(b_out, x, axis=-1, norm=None):
        return rfft_adjoint(b_out, x, None, axis, norm)

    def tangent(dx, x, axis=-1, norm=None):
        return rfft_along(dx, axis, norm)


@register(
    rfft_sized,
    result=_transform("np.fft.rfft", sized=True, real="input"),
    linear_in=(0,),
    device=False,
)
class RfftSized:
    def adjoint(b_out, x, n, axis=-1, norm=None):
        return rfft_adjoint(b_out, x, n, axis, norm), None

    def tangent(dx, dn, x, n, axis=-1, norm=None):
        return rfft_sized(dx, n, axis, norm)


@register(
    irfft_along, result=_transform("np.fft.irfft", real="output"), linear_in=(0,), device=False
)
class Irfft:
    # the bins between 0 and n / 2 count twice (each stands for its mirror image too)
    def adjoint(b_out, x, axis=-1, norm=None):
        return irfft_adjoint(b_out, x, axis, norm)

    def tangent(dx, x, axis=-1, norm=None):
        return irfft_along(dx, axis, norm)


@register(
    irfft_sized,
    result=_transform("np.fft.irfft", sized=True, real="output"),
    linear_in=(0,),
    device=False,
)
class IrfftSized:
    def adjoint(b_out, x, n, axis=-1, norm=None):
        return irfft_adjoint(b_out, x, axis, norm), None

    def tangent(dx, dn, x, n, axis=-1, norm=None):
        return irfft_sized(dx, n, axis, norm)


@register(fftn_along, result=_transform_n("np.fft.fftn", None), linear_in=(0,), device=False)
class Fftn:
    def adjoint(b_out, x, axes=None, norm=None):
        return fftn_adjoint(b_out, x, axes, norm)

    def tangent(dx, x, axes=None, norm=None):
        return fftn_along(dx, axes, norm)


@register(ifftn_along, result=_transform_n("np.fft.ifftn", None), linear_in=(0,), device=False)
class Ifftn:
    def adjoint(b_out, x, axes=None, norm=None):
        return ifftn_adjoint(b_out, x, axes, norm)

    def tangent(dx, x, axes=None, norm=None):
        return ifftn_along(dx, axes, norm)


@register(fft2_along, result=_transform_n("np.fft.fft2", (-2, -1)), linear_in=(0,), device=False)
class Fft2:
    def adjoint(b_out, x, axes=(-2, -1), norm=None):
        return fftn_adjoint(b_out, x, axes, norm)

    def tangent(dx, x, axes=(-2, -1), norm=None):
        return fft2_along(dx, axes, norm)


@register(ifft2_along, result=_transform_n("np.fft.ifft2", (-2, -1)), linear_in=(0,), device=False)
class Ifft2:
    def adjoint(b_out, x, axes=(-2, -1), norm=None):
        return ifftn_adjoint(b_out, x, axes, norm)

    def tangent(dx, x, axes=(-2, -1), norm=None):
        return ifft2_along(dx, axes, norm)


# permutations: each one's adjoint is the other
@register(fftshift_along, result=_shifted("np.fft.fftshift"), linear_in=(0,), device=False)
class Fftshift:
    def adjoint(b_out, x, axes=None):
        return fftshift_adjoint(b_out, axes)

    def tangent(dx, x, axes=None):
        return fftshift_along(dx, axes)


@register(ifftshift_along, result=_shifted("np.fft.ifftshift"), linear_in=(0,), device=False)
class Ifftshift:
    def adjoint(b_out, x, axes=None):
        return ifftshift_adjoint(b_out, axes)

    def tangent(dx, x, axes=None):
        return ifftshift_along(dx, axes)


# --- helpers of the adjoints above (forward mode meets them in hvp and hessian) ---------------------
# linear in the adjoint, constant in the input (whose shape and dtype they read)


@register(fft_adjoint, result=_adjoint_type, linear_in=(0,), forward_only=True, new_array=True)
class FftAdjoint:
    def tangent(dg, dx, dn, daxis, dnorm, g, x, n, axis, norm):
        return fft_adjoint(dg, x, n, axis, norm)


@register(ifft_adjoint, result=_adjoint_type, linear_in=(0,), forward_only=True, new_array=True)
class IfftAdjoint:
    def tangent(dg, dx, dn, daxis, dnorm, g, x, n, axis, norm):
        return ifft_adjoint(dg, x, n, axis, norm)


@register(rfft_adjoint, result=_adjoint_type, linear_in=(0,), forward_only=True, new_array=True)
class RfftAdjoint:
    def tangent(dg, dx, dn, daxis, dnorm, g, x, n, axis, norm):
        return rfft_adjoint(dg, x, n, axis, norm)


@register(irfft_adjoint, result=_adjoint_type, linear_in=(0,), forward_only=True, new_array=True)
class IrfftAdjoint:
    def tangent(dg, dh, daxis, dnorm, g, h, axis, norm):
        return irfft_adjoint(dg, h, axis, norm)


@register(fftn_adjoint, result=_adjoint_type, linear_in=(0,), forward_only=True, new_array=True)
class FftnAdjoint:
    def tangent(dg, dx, daxes, dnorm, g, x, axes, norm):
        return fftn_adjoint(dg, x, axes, norm)


@register(ifftn_adjoint, result=_adjoint_type, linear_in=(0,), forward_only=True, new_array=True)
class IfftnAdjoint:
    def tangent(dg, dx, daxes, dnorm, g, x, axes, norm):
        return ifftn_adjoint(dg, x, axes, norm)


@register(fftshift_adjoint, result=shapes.like_first_array, linear_in=(0,), forward_only=True)
class FftshiftAdjoint:
    def tangent(dg, daxes, g, axes):
        return fftshift_adjoint(dg, axes)


@register(ifftshift_adjoint, result=shapes.like_first_array, linear_in=(0,), forward_only=True)
class IfftshiftAdjoint:
    def tangent(dg, daxes, g, axes):
        return ifftshift_adjoint(dg, axes)


# --- sample frequencies ----------------------------------------------------------------------------


def _frequencies(what: str):
    """The result rule of ``fftfreq(n, d)``: a float64 vector; ``n`` an integer."""

    def rule(args: list, node):
        n, d = args
        if not (isinstance(n, Scalar) and n.kind == "int"):
            raise shapes.ArrayTypeProblem(f"{what} with n= other than an integer")
        if not (isinstance(d, Scalar) and d.kind in ("int", "float")):
            raise shapes.ArrayTypeProblem(f"{what} with d= other than a real number")
        return Array("float64", 1)

    rule.__name__ = f"{what.rpartition('.')[2]}_result"
    return rule


@register(np.fft.fftfreq, scipy.fft.fftfreq, result=_frequencies("np.fft.fftfreq"), device=False)
class Fftfreq:
    def adjoint(b_out, n, d):
        return None, -np.sum(b_out * np.fft.fftfreq(n, d)) / d

    def tangent(dn, dd, n, d):
        return -dd * np.fft.fftfreq(n, d) / d


@register(np.fft.rfftfreq, scipy.fft.rfftfreq, result=_frequencies("np.fft.rfftfreq"), device=False)
class Rfftfreq:
    def adjoint(b_out, n, d):
        return None, -np.sum(b_out * np.fft.rfftfreq(n, d)) / d

    def tangent(dn, dd, n, d):
        return -dd * np.fft.rfftfreq(n, d) / d
