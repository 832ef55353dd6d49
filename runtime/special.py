"""Special functions for generated code: SciPy's, and those of ``math`` and NumPy that Numba lacks.

Numba compiles neither ``scipy.special`` (without numba-scipy) nor ``math.fmod``,
``math.remainder``, ``math.cbrt`` and ``np.heaviside``, so generated code calls these helpers
in their place: ``scipy.special.expit(x)`` is ``special_expit(x)`` there. Each is a plain
function (what ``compile=False`` runs) with a Numba implementation registered by
``numba.extending.overload``; both apply the same compiled kernel of numbers element by
element, so compiled and plain code agree to the last bit. The kernels use ``math`` only.

``special_polygamma(n, x)`` (``n = 0``: the digamma function) is written here: shifted up by
its recurrence, then summed from its asymptotic series, reflected for negative ``x``, and near
the two roots of the digamma function closest to zero summed from its Taylor series there,
whose coefficients (Hurwitz zeta values) are computed when this module is imported.

The functions along axes (``special_softmax``, ``special_log_softmax``,
``special_logsumexp``) are written with the reductions along axes of ``reductions.py``, whose
axes must be constants of the call, as they are in generated code.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from .exports import EXPORTS
from .reductions import max_along, sum_along

__all__ = list(EXPORTS["special"])  # (the names: exports.py)


# --- applying a kernel of numbers element by element ---------------------------------------------


def _floating(*dtypes) -> np.dtype:
    """The dtype of a function's values on arrays of ``dtypes``: theirs, float64 for integers
    (Python numbers do not widen arrays, as in NumPy)."""
    dtype = np.result_type(*dtypes) if dtypes else np.dtype("float64")
    return dtype if dtype.kind == "f" else np.dtype("float64")


def _applied(kernel, *args):
    """Plain Python: ``kernel`` (of floats) applied to the elements of ``args`` (numbers or
    arrays, broadcast together); a float when no argument is an array."""
    if not any(isinstance(a, np.ndarray) for a in args):
        return kernel(*(float(a) for a in args))
    dtype = _floating(*(a.dtype for a in args if isinstance(a, np.ndarray)))
    shaped = np.broadcast_arrays(*(np.asarray(a) for a in args))
    out = np.empty(shaped[0].shape, dtype)
    for index in np.ndindex(out.shape):
        out[index] = kernel(*(float(a[index]) for a in shaped))
    return out


def _applied_numba(kernel, x, y=None):
    """The Numba implementation of ``kernel`` applied element by element to one or two
    arguments (numbers or arrays, broadcast together); None for other argument types."""
    given = (x,) if y is None else (x, y)
    if not all(isinstance(a, types.Array | types.Number) for a in given):
        return None
    arrays = [a for a in given if isinstance(a, types.Array)]
    dtype = _floating(*(as_dtype(a.dtype) for a in arrays)).type
    if y is None:
        if not arrays:
            return lambda x: kernel(float(x))

        def unary(x):
            out = np.empty(x.shape, dtype=dtype)
            for index in np.ndindex(x.shape):
                out[index] = kernel(float(x[index]))
            return out

        return unary
    if not arrays:
        return lambda x, y: kernel(float(x), float(y))
    if len(arrays) == 2:

        def both(x, y):
            a, b = np.broadcast_arrays(x, y)
            out = np.empty(a.shape, dtype=dtype)
            for index in np.ndindex(a.shape):
                out[index] = kernel(float(a[index]), float(b[index]))
            return out

        return both
    if isinstance(x, types.Array):

        def left(x, y):
            out = np.empty(x.shape, dtype=dtype)
            for index in np.ndindex(x.shape):
                out[index] = kernel(float(x[index]), float(y))
            return out

        return left

    def right(x, y):
        out = np.empty(y.shape, dtype=dtype)
        for index in np.ndindex(y.shape):
            out[index] = kernel(float(x), float(y[index]))
        return out

    return right


# --- kernels of numbers ----------------------------------------------------------------------------


@numba.njit(cache=True)
def _log(y):
    """``math.log`` without Python's errors: -inf at 0, nan below (as NumPy)."""
    if y > 0.0:
        return math.log(y)
    if y == 0.0:
        return -math.inf
    return math.nan


@numba.njit(cache=True)
def _expit(x):
    if x >= 0.0:  # exp of a non-positive number: no overflow either way
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True)
def _logit(p):
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if not 0.0 < p < 1.0:
        return math.nan
    if 0.3 < p < 0.7:  # log1p keeps the digits of p / (1 - p) near 1
        return math.log1p((2.0 * p - 1.0) / (1.0 - p))
    return math.log(p / (1.0 - p))


@numba.njit(cache=True)
def _erf(x):
    return math.erf(x)


@numba.njit(cache=True)
def _erfc(x):
    return math.erfc(x)


@numba.njit(cache=True)
def _gammaln(x):
    if x <= 0.0 and x == math.floor(x):  # a pole of the gamma function (Python raises)
        return math.inf
    return math.lgamma(x)


@numba.njit(cache=True)
def _xlogy(x, y):
    if x == 0.0 and not math.isnan(y):
        return 0.0
    return x * _log(y)


@numba.njit(cache=True)
def _xlog1py(x, y):
    if x == 0.0 and not math.isnan(y):
        return 0.0
    return x * _log(1.0 + y) if y <= -1.0 else x * math.log1p(y)


@numba.njit(cache=True)
def _xdivy(x, y):
    if x == 0.0 and not math.isnan(y):
        return 0.0
    if y == 0.0:  # (Python raises)
        return math.nan if math.isnan(x) else math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


@numba.njit(cache=True)
def _heaviside(x, h0):
    if math.isnan(x):
        return math.nan
    if x == 0.0:
        return h0
    return 1.0 if x > 0.0 else 0.0


@numba.njit(cache=True)
def _fmod(x, y):
    return np.fmod(x, y)


@numba.njit(cache=True)
def _remainder(x, y):
    """``math.remainder`` (IEEE 754): ``x - n * y`` with ``n`` the integer nearest ``x / y``,
    ties to even; computed from ``fmod`` as C libraries do (exact)."""
    if math.isnan(x) or math.isnan(y) or math.isinf(x) or y == 0.0:
        return math.nan
    if math.isinf(y):
        return x
    p = abs(y)
    r = abs(x)
    if p < 8.98846567431158e307:  # 2 p does not overflow
        r = np.fmod(r, p + p)  # now 0 <= r < 2 p
    half = 0.5 * p
    if r > half:
        r -= p
        if r >= half:
            r -= p
    return -r if x < 0.0 else r


@numba.njit(cache=True)
def _cbrt(x):
    return np.cbrt(x)


# sinc(x) = sin(t) / t with t = pi x: its derivatives from the Taylor series of sin(t) / t
# near 0 (no cancellation, and the limits at 0), from their closed forms elsewhere.
@numba.njit(cache=True)
def _sinc_derivative(x):
    t = math.pi * x
    if abs(t) < 1.0:
        # sum over k >= 1 of (-1)^k 2k t^(2k-1) / (2k+1)!
        total, term, k = 0.0, -t / 3.0, 1
        while k <= 12:
            total += term
            term *= -t * t * (2 * k + 2) / ((2 * k) * (2 * k + 2) * (2 * k + 3))
            k += 1
        return math.pi * total
    return math.pi * (t * math.cos(t) - math.sin(t)) / (t * t)


@numba.njit(cache=True)
def _sinc_second_derivative(x):
    t = math.pi * x
    if abs(t) < 1.0:
        # sum over k >= 1 of (-1)^k 2k (2k-1) t^(2k-2) / (2k+1)!
        total, term, k = 0.0, -1.0 / 3.0, 1
        while k <= 12:
            total += term
            term *= (
                -t
                * t
                * (2 * k + 2)
                * (2 * k + 1)
                / (2 * k * (2 * k - 1) * (2 * k + 2) * (2 * k + 3))
            )
            k += 1
        return math.pi * math.pi * total
    return math.pi * math.pi * ((2.0 - t * t) * math.sin(t) - 2.0 * t * math.cos(t)) / (t * t * t)


# --- the polygamma functions ------------------------------------------------------------------------

# B_2, B_4, ..., B_20 (Bernoulli numbers)
_BERNOULLI = (
    1.0 / 6.0, -1.0 / 30.0, 1.0 / 42.0, -1.0 / 30.0, 5.0 / 66.0, -691.0 / 2730.0, 7.0 / 6.0,
    -3617.0 / 510.0, 43867.0 / 798.0, -174611.0 / 330.0,
)  # fmt: skip


def _hurwitz_zeta(s: int, q: float) -> float:
    """The Hurwitz zeta function sum over k >= 0 of (q + k)^-s, for an integer s >= 2 and
    q > 0: twenty terms, then the Euler-Maclaurin formula for the rest."""
    terms = 20
    total = sum((q + k) ** -s for k in range(terms))
    a = q + terms
    total += a ** (1 - s) / (s - 1) + 0.5 * a**-s
    rising, factorial = float(s), 2.0  # s (s + 1) ... (s + 2j - 2) and (2j)!
    for j, bernoulli in enumerate(_BERNOULLI, start=1):
        total += bernoulli / factorial * rising * a ** (-s - 2 * j + 1)
        rising *= (s + 2 * j - 1) * (s + 2 * j)
        factorial *= (2 * j + 1) * (2 * j + 2)
    return total


# The roots of the digamma function nearest zero, its values at these doubles (as SciPy
# gives them), and its Taylor coefficients there: psi(r + z) = psi(r) + sum over k >= 1 of
# (-1)^(k+1) zeta(k + 1, r) z^k (zeta(s, r) for r < 0 by zeta(s, r) = zeta(s, r + 1) + r^-s).
_ROOT = 1.4616321449683622
_ROOT_VALUE = -9.241265521729427e-17
_NEGATIVE_ROOT = -0.5040830082644554
_NEGATIVE_ROOT_VALUE = 7.289763902976895e-17
_ROOT_SERIES = np.array([(-1) ** (k + 1) * _hurwitz_zeta(k + 1, _ROOT) for k in range(1, 31)])
_NEGATIVE_ROOT_SERIES = np.array(
    [
        (-1) ** (k + 1) * (_hurwitz_zeta(k + 1, _NEGATIVE_ROOT + 1.0) + _NEGATIVE_ROOT ** -(k + 1))
        for k in range(1, 61)
    ]
)


@numba.njit(cache=True)
def _series(coefficients, value, z):
    """``value`` plus the sum over k of ``coefficients[k - 1] * z**k`` (Horner)."""
    total = 0.0
    for k in range(coefficients.shape[0] - 1, -1, -1):
        total = (total + coefficients[k]) * z
    return value + total


@numba.njit(cache=True)
def _polygamma_positive(n, x):
    """The polygamma function of order ``n`` at ``x > 0``."""
    if n == 0 and abs(x - _ROOT) < 0.3:
        return _series(_ROOT_SERIES, _ROOT_VALUE, x - _ROOT)
    factorial = 1.0  # n!
    for k in range(2, n + 1):
        factorial *= k
    sign = 1.0 if n % 2 == 1 else -1.0  # (-1)^(n+1)
    total = 0.0
    while x < 20.0:  # psi_n(x) = psi_n(x + 1) + (-1)^(n+1) n! / x^(n+1)
        total += -1.0 / x if n == 0 else sign * factorial / x ** (n + 1)
        x += 1.0
    inverse = 1.0 / x
    if n == 0:  # log x - 1 / (2x) - sum of B_2k / (2k x^2k)
        series, power = 0.0, inverse * inverse
        for k in range(len(_BERNOULLI)):
            series += _BERNOULLI[k] / (2 * k + 2) * power
            power *= inverse * inverse
        return total + math.log(x) - 0.5 * inverse - series
    # (-1)^(n+1) [(n-1)! / x^n + n! / (2 x^(n+1)) + sum of B_2k (2k+n-1)! / ((2k)! x^(2k+n))]
    leading = factorial / n * inverse**n
    series = leading + 0.5 * factorial * inverse ** (n + 1)
    ratio = factorial * (n + 1) / 2.0  # (2k+n-1)! / (2k)! for k = 1
    power = inverse ** (n + 2)
    for k in range(len(_BERNOULLI)):
        series += _BERNOULLI[k] * ratio * power
        ratio *= (2 * k + n + 2) * (2 * k + n + 3) / ((2 * k + 3) * (2 * k + 4))
        power *= inverse * inverse
    return total + sign * series


@numba.njit(cache=True)
def _cot_derivative(n, x):
    """The n-th derivative of cot(pi x): P_n(cot(pi x)) with P_0(c) = c and
    P_(k+1)(c) = -pi (1 + c^2) P_k'(c)."""
    r = x - math.floor(x + 0.5)  # cot(pi x) has period 1: keep pi x small
    c = math.cos(math.pi * r) / math.sin(math.pi * r)
    coefficients = np.zeros(n + 2)
    coefficients[1] = 1.0
    for _ in range(n):
        derivative = np.zeros(n + 2)
        for j in range(n + 1):
            derivative[j] = (j + 1) * coefficients[j + 1]
        for j in range(n + 2):
            coefficients[j] = -math.pi * (derivative[j] + (derivative[j - 2] if j >= 2 else 0.0))
    value = 0.0
    for j in range(n + 1, -1, -1):
        value = value * c + coefficients[j]
    return value


@numba.njit(cache=True)
def _polygamma(n, x):
    """The polygamma function of order ``n >= 0`` (the digamma function for ``n = 0``)."""
    if math.isnan(x) or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf if n == 0 else 0.0
    if x <= 0.0 and x == math.floor(x):  # a pole; the values SciPy gives there
        if n == 0:
            return -math.inf if x == 0.0 else math.nan
        return math.inf if n % 2 == 1 else -math.inf
    if x > 0.0:
        return _polygamma_positive(n, x)
    if n == 0 and abs(x - _NEGATIVE_ROOT) < 0.2:
        return _series(_NEGATIVE_ROOT_SERIES, _NEGATIVE_ROOT_VALUE, x - _NEGATIVE_ROOT)
    # reflection: (-1)^n psi_n(1 - x) - psi_n(x) = pi d^n/dx^n cot(pi x)
    reflected = _polygamma_positive(n, 1.0 - x)
    return (reflected if n % 2 == 0 else -reflected) - math.pi * _cot_derivative(n, x)


@numba.njit(cache=True)
def _digamma(x):
    return _polygamma(0, x)


# --- element-wise helpers ---------------------------------------------------------------------------


def special_expit(x):
    """``scipy.special.expit(x)``, 1 / (1 + exp(-x)), without overflow."""
    return _applied(_expit, x)


@overload(special_expit)
def _special_expit_numba(x):
    return _applied_numba(_expit, x)


def special_logit(x):
    """``scipy.special.logit(x)``, log(x / (1 - x))."""
    return _applied(_logit, x)


@overload(special_logit)
def _special_logit_numba(x):
    return _applied_numba(_logit, x)


def special_erf(x):
    """``scipy.special.erf(x)`` of real numbers and arrays."""
    return _applied(_erf, x)


@overload(special_erf)
def _special_erf_numba(x):
    return _applied_numba(_erf, x)


def special_erfc(x):
    """``scipy.special.erfc(x)`` of real numbers and arrays."""
    return _applied(_erfc, x)


@overload(special_erfc)
def _special_erfc_numba(x):
    return _applied_numba(_erfc, x)


def special_gammaln(x):
    """``scipy.special.gammaln(x)``, log |Gamma(x)| (inf at the poles)."""
    return _applied(_gammaln, x)


@overload(special_gammaln)
def _special_gammaln_numba(x):
    return _applied_numba(_gammaln, x)


def special_digamma(x):
    """``scipy.special.digamma(x)`` (``psi``), the derivative of log |Gamma(x)|."""
    return _applied(_digamma, x)


@overload(special_digamma)
def _special_digamma_numba(x):
    return _applied_numba(_digamma, x)


def special_polygamma(n, x):
    """``scipy.special.polygamma(n, x)`` for one integer order ``n >= 0``."""
    if int(n) != n or n < 0:
        raise ValueError("special_polygamma: the order n is an integer >= 0")
    return _applied(lambda value: _polygamma(int(n), value), x)


@overload(special_polygamma)
def _special_polygamma_numba(n, x):
    if not isinstance(n, types.Integer):
        return None
    if isinstance(x, types.Number):
        return lambda n, x: _polygamma(n, float(x))
    if not isinstance(x, types.Array):
        return None
    dtype = _floating(as_dtype(x.dtype)).type

    def impl(n, x):
        if n < 0:
            raise ValueError("special_polygamma: the order n is an integer >= 0")
        out = np.empty(x.shape, dtype=dtype)
        for index in np.ndindex(x.shape):
            out[index] = _polygamma(n, float(x[index]))
        return out

    return impl


def special_xlogy(x, y):
    """``scipy.special.xlogy(x, y)``, x log(y), 0 where x is 0 (unless y is nan)."""
    return _applied(_xlogy, x, y)


@overload(special_xlogy)
def _special_xlogy_numba(x, y):
    return _applied_numba(_xlogy, x, y)


def special_xlog1py(x, y):
    """``scipy.special.xlog1py(x, y)``, x log(1 + y), 0 where x is 0 (unless y is nan)."""
    return _applied(_xlog1py, x, y)


@overload(special_xlog1py)
def _special_xlog1py_numba(x, y):
    return _applied_numba(_xlog1py, x, y)


def special_xdivy(x, y):
    """x / y, 0 where x is 0 (unless y is nan): the derivatives of ``xlogy`` and ``xlog1py``
    with respect to ``y``, exact where x is 0 (the function is then 0 for every y)."""
    return _applied(_xdivy, x, y)


@overload(special_xdivy)
def _special_xdivy_numba(x, y):
    return _applied_numba(_xdivy, x, y)


def numpy_heaviside(x, y):
    """``np.heaviside(x, y)``: 0 below 0, ``y`` at 0, 1 above (nan at nan)."""
    return _applied(_heaviside, x, y)


@overload(numpy_heaviside)
def _numpy_heaviside_numba(x, y):
    return _applied_numba(_heaviside, x, y)


def math_fmod(x, y):
    """``math.fmod(x, y)`` of numbers (Numba has ``np.fmod``, not ``math.fmod``)."""
    return math.fmod(x, y)


@overload(math_fmod)
def _math_fmod_numba(x, y):
    if isinstance(x, types.Number) and isinstance(y, types.Number):
        return lambda x, y: _fmod(float(x), float(y))
    return None


def math_remainder(x, y):
    """``math.remainder(x, y)`` of numbers, IEEE 754's remainder (ties to even)."""
    return math.remainder(x, y)


@overload(math_remainder)
def _math_remainder_numba(x, y):
    if isinstance(x, types.Number) and isinstance(y, types.Number):
        return lambda x, y: _remainder(float(x), float(y))
    return None


def math_cbrt(x):
    """``math.cbrt(x)`` of numbers (Python 3.11), the real cube root."""
    return float(np.cbrt(x))


@overload(math_cbrt)
def _math_cbrt_numba(x):
    if isinstance(x, types.Number):
        return lambda x: _cbrt(float(x))
    return None


def sinc_derivative(x):
    """The derivative of ``np.sinc`` (0 at 0, accurate near it)."""
    return _applied(_sinc_derivative, x)


@overload(sinc_derivative)
def _sinc_derivative_numba(x):
    return _applied_numba(_sinc_derivative, x)


def sinc_second_derivative(x):
    """The second derivative of ``np.sinc`` (-pi^2 / 3 at 0)."""
    return _applied(_sinc_second_derivative, x)


@overload(sinc_second_derivative)
def _sinc_second_derivative_numba(x):
    return _applied_numba(_sinc_second_derivative, x)


# --- along axes: softmax, log_softmax, logsumexp -----------------------------------------------------
# Written with max_along and sum_along, whose axes (an integer, a tuple of them or None) are
# constants of the call; a maximum that is not finite is taken as 0, as SciPy takes it, so
# that a group of -inf has the logarithm -inf rather than nan.


def _finite_shift(m):
    """The maxima ``m`` (kept dimensions) with those that are not finite set to 0."""
    return np.where(np.isfinite(m), m, 0.0)


@overload(_finite_shift)
def _finite_shift_numba(m):
    def impl(m):
        out = m.copy()
        for index in np.ndindex(m.shape):
            if not np.isfinite(m[index]):
                out[index] = 0.0
        return out

    return impl


def special_softmax(x, axis=None):
    """``scipy.special.softmax(x, axis)``: exp(x) / the sum of exp(x) along ``axis``."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@overload(special_softmax, prefer_literal=True)
def _special_softmax_numba(x, axis=None):
    if not isinstance(x, types.Array):
        return None

    def impl(x, axis=None):
        e = np.exp(x - max_along(x, axis=axis, keepdims=True))
        return e / sum_along(e, axis=axis, keepdims=True)

    return impl


def special_log_softmax(x, axis=None):
    """``scipy.special.log_softmax(x, axis)``: x less the logarithm of the sum of exp(x)."""
    shifted = x - _finite_shift(np.max(x, axis=axis, keepdims=True))
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@overload(special_log_softmax, prefer_literal=True)
def _special_log_softmax_numba(x, axis=None):
    if not isinstance(x, types.Array):
        return None

    def impl(x, axis=None):
        shifted = x - _finite_shift(max_along(x, axis=axis, keepdims=True))
        return shifted - np.log(sum_along(np.exp(shifted), axis=axis, keepdims=True))

    return impl


def special_logsumexp(a, axis=None, keepdims=False):
    """``scipy.special.logsumexp(a, axis, keepdims=keepdims)``: the logarithm of the sum of
    exp(a) along ``axis``, without overflow."""
    m = _finite_shift(np.max(a, axis=axis, keepdims=True))
    kept = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.sum(kept, axis=axis, keepdims=keepdims)  # (a sum over axes of length 1)


@overload(special_logsumexp, prefer_literal=True)
def _special_logsumexp_numba(a, axis=None, keepdims=False):
    if not isinstance(a, types.Array):
        return None

    def impl(a, axis=None, keepdims=False):
        m = _finite_shift(max_along(a, axis=axis, keepdims=True))
        kept = np.log(sum_along(np.exp(a - m), axis=axis, keepdims=True)) + m
        return sum_along(kept, axis=axis, keepdims=keepdims)

    return impl


def special_logsumexp_weighted(a, b, axis=None, keepdims=False):
    """``scipy.special.logsumexp(a, axis, b=b, keepdims=keepdims)``: the logarithm of the sum
    of b exp(a) along ``axis`` (``b`` broadcast to the shape of ``a``; nan where the sum is
    negative)."""
    b = np.broadcast_to(b, np.shape(a))
    m = _finite_shift(np.max(a, axis=axis, keepdims=True))
    kept = np.log(np.sum(b * np.exp(a - m), axis=axis, keepdims=True)) + m
    return np.sum(kept, axis=axis, keepdims=keepdims)


@overload(special_logsumexp_weighted, prefer_literal=True)
def _special_logsumexp_weighted_numba(a, b, axis=None, keepdims=False):
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)):
        return None

    def impl(a, b, axis=None, keepdims=False):
        weights = np.broadcast_to(b, a.shape)
        m = _finite_shift(max_along(a, axis=axis, keepdims=True))
        kept = np.log(sum_along(weights * np.exp(a - m), axis=axis, keepdims=True)) + m
        return sum_along(kept, axis=axis, keepdims=keepdims)

    return impl


def special_logsumexp_share(a, b, axis=None):
    """exp(a - logsumexp(a, axis, b=b, keepdims=True)), shaped like ``a``: the derivative of
    the weighted logsumexp with respect to ``b``, and divided by ``b`` with respect to ``a``."""
    return np.exp(a - special_logsumexp_weighted(a, b, axis=axis, keepdims=True))


@overload(special_logsumexp_share, prefer_literal=True)
def _special_logsumexp_share_numba(a, b, axis=None):
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)):
        return None

    def impl(a, b, axis=None):
        return np.exp(a - special_logsumexp_weighted(a, b, axis=axis, keepdims=True))

    return impl


# The helpers of the adjoints above, with the axis a positional argument (None for every
# axis): forward mode differentiates adjoints again (hvp), and reads None there only so.


def softmax_share(x, axis):
    """``special_softmax(x, axis)``: each element's share of its group's logsumexp."""
    return special_softmax(x, axis=axis)


@overload(softmax_share, prefer_literal=True)
def _softmax_share_numba(x, axis):
    if not isinstance(x, types.Array):
        return None
    return lambda x, axis: special_softmax(x, axis=axis)


def sum_keepdims(g, axis):
    """``np.sum(g, axis=axis, keepdims=True)``."""
    return np.sum(g, axis=axis, keepdims=True)


@overload(sum_keepdims, prefer_literal=True)
def _sum_keepdims_numba(g, axis):
    if not isinstance(g, types.Array):
        return None
    return lambda g, axis: sum_along(g, axis=axis, keepdims=True)
