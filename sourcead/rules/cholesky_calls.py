"""``scipy.linalg.cho_solve((c, lower), b)`` as the call generated code makes:
``linalg_cho_solve(c, b, lower=True)``.

The first argument of ``cho_solve`` is a tuple: the factor and the flag that says which of its
triangles holds it. The flag chooses the computation, so it must be known when the code is
generated; it is taken from

* the tuple written in the call, ``cho_solve((c, low), b)``, with ``low`` a constant or a name
  bound only by ``c, low = cho_factor(a, ...)`` (or to a constant);
* a name bound only to ``cho_factor``'s result, ``cf = cho_factor(a); cho_solve(cf, b)``: its
  factor is then ``cf[0]``, which the ``indexed`` pass unpacks (``lowering/tuple_items.py``);
* a call of ``cho_factor`` itself, ``cho_solve(cho_factor(a), b)``.

Anything else (a parameter, a flag computed at run time) is refused at the call's line, with
the option named. This runs in the array-syntax rewrite (``library.py``), before the subset
check, where calls of ``cho_factor`` may already be written as their helper.
"""

from __future__ import annotations

import gast
import scipy.linalg
from sourcead_runtime import linalg_cho_factor

#: cho_solve's parameters after (c, lower) and b, in SciPy's order
_OPTIONS = ("overwrite_b", "check_finite")


def cho_solve_arguments(parsed, call: gast.Call, spelled: str) -> gast.Call:
    """``call`` of ``cho_solve`` with its tuple taken apart: ``(c, b, lower=flag)``, the flag a
    constant; SourceADError at the call's line where the flag is not known ahead of time."""
    names = ("c_and_lower", "b")
    named = {k.arg: k.value for k in call.keywords if k.arg in names}
    if named:  # cho_solve(cf, b=b): by position
        args = list(call.args)
        for name in names[len(args) :]:
            if name not in named:
                break
            args.append(named.pop(name))
        if named:  # given twice, or b= without the tuple
            raise parsed.error(f"{spelled} with {', '.join(named)}= (pass it by position)", call)
        keywords = [k for k in call.keywords if k.arg not in names]
        call = gast.copy_location(gast.Call(func=call.func, args=args, keywords=keywords), call)
    if len(call.args) < 2 or any(isinstance(a, gast.Starred) for a in call.args):
        return call  # library_call says what is missing
    if any(k.arg == "lower" for k in call.keywords):
        raise parsed.error(
            f"{spelled} with lower=: the flag is the tuple's second item, (c, lower)",
            call,
        )
    pair, b, *rest = call.args
    if len(rest) > len(_OPTIONS):
        raise parsed.error(f"{spelled} with {len(call.args)} arguments (it takes at most 4)", call)
    factor, lower = _factor_and_flag(parsed, pair, spelled)
    keywords = [gast.keyword(arg=n, value=v) for n, v in zip(_OPTIONS, rest, strict=False)]
    keywords += call.keywords
    keywords.append(gast.keyword(arg="lower", value=_constant(lower, call)))
    return gast.copy_location(gast.Call(func=call.func, args=[factor, b], keywords=keywords), call)


def _factor_and_flag(parsed, pair, spelled: str) -> tuple[gast.expr, bool]:
    unknown = (
        f"{spelled} with a lower flag that is not known ahead of time: pass the tuple "
        "cho_factor returns, or (c, True) / (c, False) written in the call"
    )
    if isinstance(pair, gast.Tuple | gast.List) and len(pair.elts) == 2:
        factor, flag = pair.elts
        if isinstance(flag, gast.Constant) and isinstance(flag.value, bool):
            return factor, flag.value
        if isinstance(flag, gast.Name):
            return factor, _bound_flag(parsed, flag.id, 1, unknown, pair)
        raise parsed.error(unknown, pair)
    if isinstance(pair, gast.Name):
        return _item(pair.id, pair), _bound_flag(parsed, pair.id, None, unknown, pair)
    if isinstance(pair, gast.Call) and _is_cho_factor(parsed, pair):
        return _subscript(pair, 0), _factor_flag(parsed, pair, unknown)
    raise parsed.error(
        f"{spelled} of something other than (c, lower) or the result of cho_factor", pair
    )


def _bound_flag(parsed, name: str, position: int | None, unknown: str, where) -> bool:
    """The flag that every binding of ``name`` gives: item ``position`` of cho_factor's result
    unpacked (``c, low = cho_factor(a)``), or cho_factor's whole result (``position`` None);
    a constant too where ``name`` is the flag itself."""
    found = set()
    accounted = 0
    for stmt in gast.walk(parsed.node):
        if not isinstance(stmt, gast.Assign):
            continue
        for target in stmt.targets:
            if isinstance(target, gast.Name) and target.id == name:
                accounted += 1
                value = stmt.value
                if position is not None and isinstance(value, gast.Constant):
                    if not isinstance(value.value, bool):
                        raise parsed.error(unknown, where)
                    found.add(value.value)
                elif position is None and _is_cho_factor(parsed, value):
                    found.add(_factor_flag(parsed, value, unknown))
                else:
                    raise parsed.error(unknown, where)
            elif isinstance(target, gast.Tuple | gast.List) and any(
                isinstance(e, gast.Name) and e.id == name for e in target.elts
            ):
                accounted += 1
                place = [getattr(e, "id", None) for e in target.elts].index(name)
                if position is None or place != position or len(target.elts) != 2:
                    raise parsed.error(unknown, where)
                if not _is_cho_factor(parsed, stmt.value):
                    raise parsed.error(unknown, where)
                found.add(_factor_flag(parsed, stmt.value, unknown))
    stores = sum(
        1
        for n in gast.walk(parsed.node)
        if isinstance(n, gast.Name) and n.id == name and not isinstance(n.ctx, gast.Load)
    )
    if len(found) != 1 or stores != accounted:  # unbound, a parameter, a loop variable ...
        raise parsed.error(unknown, where)
    return found.pop()


def _is_cho_factor(parsed, node) -> bool:
    """Whether ``node`` calls ``scipy.linalg.cho_factor`` (or its helper, already rewritten)."""
    if not isinstance(node, gast.Call):
        return False
    func = node.func
    if getattr(func, "global_value", None) is linalg_cho_factor:
        return True
    try:
        return parsed.resolve(func) is scipy.linalg.cho_factor
    except (KeyError, AttributeError):
        return False


def _factor_flag(parsed, call: gast.Call, unknown: str) -> bool:
    """The ``lower`` that a call of cho_factor writes (False by default)."""
    flag = call.args[1] if len(call.args) > 1 else None
    flag = next((k.value for k in call.keywords if k.arg == "lower"), flag)
    if flag is None:
        return False
    if isinstance(flag, gast.Constant) and isinstance(flag.value, bool):
        return flag.value
    raise parsed.error(unknown, call)


def _constant(value, like) -> gast.Constant:
    return gast.copy_location(gast.Constant(value=value, kind=None), like)


def _item(name: str, like) -> gast.Subscript:
    load = gast.copy_location(
        gast.Name(id=name, ctx=gast.Load(), annotation=None, type_comment=None), like
    )
    return _subscript(load, 0)


def _subscript(value, k: int) -> gast.Subscript:
    node = gast.Subscript(value=value, slice=_constant(k, value), ctx=gast.Load())
    return gast.copy_location(node, value)
