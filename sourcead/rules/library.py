"""Library functions whose calls generated code writes otherwise: helpers in their place, options.

Numba compiles neither ``scipy.special``'s functions nor ``np.heaviside``, ``math.fmod``,
``math.remainder`` and ``math.cbrt``, nor ``np.sort`` along any axis, so generated code calls a
helper of ``sourcead_runtime`` in their place: ``scipy.special.expit(x)`` is
``special_expit(x)`` there, and the helper is the primitive of a registry entry. Other
functions (``np.interp``, ``np.nan_to_num``) stay as they are, with their options checked.
The entry files say so in ``CALLS`` (``calls``), and the array-syntax rewrite
(``lowering/arrays.py``) turns each such call into the call generated code makes
(``library_call``), before the subset check, so that every later pass sees the helper.

The call's arguments are passed to the helper by position, its options by keyword; an
option sourcead does not take, or takes only in some forms (an axis must be written in the
call: the number of dimensions of the result depends on it), is refused there, at the line
of the call, with the function and the option named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gast
import numpy as np

from ..trees.codegen import src
from .shapes import literal_int


@dataclass(frozen=True)
class Option:
    """An option of a library function and the forms sourcead takes it in.

    ``takes``: ``"axes"`` (None, an integer or a tuple of integers written in the call),
    ``"axis"`` (one integer written in the call, or None: the flattened array, which the
    helper is given instead, ``np.ravel(a)``), ``"flag"`` (True or False written
    in the call), ``"number"`` (a number written in the call: it carries no derivative),
    ``"value"`` (any expression), ``"default"`` (only its default: any other value is
    refused), ``"ignored"`` (a constant that does not change the result, dropped: the
    ``kind=`` of ``np.sort``).
    """

    default: object = None
    takes: str = "value"


@dataclass(frozen=True)
class LibraryCall:
    """How generated code calls one library function.

    ``signature``: the function's parameters in order; the first ``arguments`` of them are
    its arguments (required, passed on by position), the others its ``options``. ``helper``:
    the runtime helper generated code calls in its place (None: the function itself).
    ``variants``: option -> the helper called when that option is given, with the option
    passed after the arguments (``logsumexp``'s ``b=``). ``prepare``: (parsed, call, spelled)
    -> the call in the form ``signature`` describes, before anything else (the tuple
    ``(c, lower)`` that ``scipy.linalg.cho_solve`` takes). ``rewrite``: (parsed, call,
    spelled) -> the call generated code makes, written whole with its options checked: calls
    of primitives that need no further rewriting (``np.linalg.norm(x, 1, axis=0)`` ->
    ``sum_along(np.abs(x), axis=0)``); ``signature``, ``options``, ``helper`` and ``variants``
    then only describe it (the table of supported functions reads them).
    """

    signature: tuple[str, ...]
    arguments: int = 1
    options: dict = field(default_factory=dict)
    helper: object = None
    variants: dict = field(default_factory=dict)
    prepare: object = None
    rewrite: object = None


#: Library function -> how generated code calls it (filled by the entry files).
CALLS: dict[object, LibraryCall] = {}


def calls(*functions, **how) -> LibraryCall:
    """Record how generated code calls ``functions`` (one ``LibraryCall`` of ``how``)."""
    call = LibraryCall(**how)
    for function in functions:
        CALLS[function] = call
    return call


def is_library_call(function) -> bool:
    try:
        return function in CALLS
    except TypeError:  # unhashable: no library function
        return False


def library_call(parsed, call: gast.Call, function, spelled: str) -> gast.Call:
    """The call generated code makes for ``call`` of ``function`` (``spelled`` as the user
    wrote it): its options checked (SourceADError at the call's line, ``parsed.error``), those
    written as their defaults dropped, and the helper called in its place where it has one."""
    how = CALLS[function]
    if how.rewrite is not None:
        return how.rewrite(parsed, call, spelled)
    if how.prepare is not None:
        call = how.prepare(parsed, call, spelled)
    names = how.signature
    if len(call.args) > len(names):
        raise parsed.error(
            f"{spelled} with {len(call.args)} arguments (it takes at most {len(names)})", call
        )
    if any(isinstance(a, gast.Starred) for a in call.args):
        raise parsed.error(f"{spelled} with *arguments", call)
    given = dict(zip(names, call.args, strict=False))
    for keyword in call.keywords:
        if keyword.arg is None:
            raise parsed.error(f"{spelled} with **options", call)
        if keyword.arg in given:
            raise parsed.error(f"{spelled} with {keyword.arg} given twice", call)
        if keyword.arg not in names:
            raise parsed.error(f"{spelled} with {keyword.arg}= ({_takes(how)})", call)
        given[keyword.arg] = keyword.value
    arguments = names[: how.arguments]
    for name in arguments:
        if name not in given:
            raise parsed.error(f"{spelled} without its argument {name}", call)
    options = {}
    for name in names[how.arguments :]:
        value = given.get(name)
        if value is not None and _checked(parsed, call, spelled, name, value, how):
            if isinstance(value, gast.List):  # axis=[0, 1]
                value = gast.copy_location(gast.Tuple(elts=value.elts, ctx=gast.Load()), value)
            options[name] = value
    args = [given[name] for name in arguments]
    for name, value in list(options.items()):
        if how.options[name].takes == "axis" and _is_constant(value, None):
            args[0] = _raveled(args[0])  # axis=None: along the flattened array
            del options[name]
    helper = how.helper
    for option, variant in how.variants.items():
        if option in options:
            helper = variant
            args.append(options.pop(option))
    func = call.func
    if helper is not None:
        func = gast.Name(id=helper.__name__, ctx=gast.Load(), annotation=None, type_comment=None)
        func.global_value = helper
        gast.copy_location(func, call.func)
    keywords = [gast.keyword(arg=name, value=value) for name, value in options.items()]
    made = gast.copy_location(gast.Call(func=func, args=args, keywords=keywords), call)
    made.spelled = spelled  # for messages about the call: the function as the user wrote it
    return made


def _raveled(array: gast.expr) -> gast.Call:
    """``np.ravel(array)``, resolved (as the array-syntax rewrite writes NumPy's functions)."""
    base = gast.Name(id="np", ctx=gast.Load(), annotation=None, type_comment=None)
    func = gast.Attribute(value=base, attr="ravel", ctx=gast.Load())
    func.global_value = np.ravel
    call = gast.Call(func=func, args=[array], keywords=[])
    for node in (base, func, call):
        gast.copy_location(node, array)
    return call


def _takes(how: LibraryCall) -> str:
    taken = [f"{name}=" for name, option in how.options.items() if option.takes != "default"]
    return f"sourcead takes {', '.join(taken)}" if taken else "sourcead takes no options"


def _checked(parsed, call, spelled: str, name: str, value, how: LibraryCall) -> bool:
    """Whether the option ``name`` written as ``value`` is passed on (False: it is written
    as its default, or does not change the result); SourceADError where sourcead does not
    take it so."""
    option = how.options[name]
    written = f"{spelled} with {name}={src(value)}"
    if _is_constant(value, option.default):
        return False
    if option.takes == "default":
        raise parsed.error(f"{written} (sourcead takes only {name}={option.default!r})", call)
    if option.takes == "ignored":
        if not isinstance(value, gast.Constant):
            raise parsed.error(f"{written}: write it as a constant", call)
        return False
    if option.takes in ("axes", "axis"):
        if isinstance(value, gast.Constant) and value.value is None:
            return True
        elements = value.elts if isinstance(value, gast.Tuple | gast.List) else None
        if elements is not None and option.takes == "axes" and elements:
            if all(literal_int(e) is not None for e in elements):
                return True
        elif literal_int(value) is not None:
            return True
        kind = "an integer or a tuple of integers" if option.takes == "axes" else "one integer"
        raise parsed.error(f"{written}: sourcead takes None or {kind} written in the call", call)
    if option.takes == "flag":
        if isinstance(value, gast.Constant) and isinstance(value.value, bool):
            return True
        raise parsed.error(f"{written}: write True or False", call)
    if option.takes == "number":
        if _number(value):
            return True
        raise parsed.error(f"{written}: sourcead takes a number written in the call", call)
    return True


def _is_constant(node, value) -> bool:
    """Whether ``node`` writes the constant ``value`` (None, True, -1, 0.0, "introselect" …)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return literal_int(node) == value
    return (
        isinstance(node, gast.Constant) and type(node.value) is type(value) and node.value == value
    )


def _number(node) -> bool:
    """A number written in the call: ``1.0``, ``-2``, ``1e300``."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub | gast.UAdd):
        node = node.operand
    return (
        isinstance(node, gast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    )
