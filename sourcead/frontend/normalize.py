"""Desugaring into the core language the reverse transformation handles.

After ``normalize``, a function body holds only:

* ``name = expr``, ``array[index] = expr`` and ``a, b = user_call(...)`` where ``expr`` has
  no conditional expression and no call of a user function except as the whole value;
* ``user_call(...)`` as a statement (a call that may write into its array arguments);
* ``if``, ``for name in range(...)`` and ``while``, whose only jump is an ``if flag: break``
  at the end of a loop body;
* one ``return`` at the very end, of a name or a tuple of names.

``break``, ``continue`` and early ``return`` become flags that guard the rest of the
block; augmented, chained and tuple assignments become single assignments.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gast

from ..errors import SourceADError
from ..trees.names import NameGenerator
from ..trees.queries import is_docstring, walk_statements
from .source import ParsedFunction


def normalize(fn: ParsedFunction) -> gast.FunctionDef:
    """A normalised copy of ``fn.node`` (``fn`` itself is left untouched)."""
    node = copy.deepcopy(fn.node)
    body = [s for i, s in enumerate(node.body) if not (i == 0 and is_docstring(s))]
    names = NameGenerator(node)
    try:
        body, outputs = _JumpStructurer(names).function_body(body, fn)
        body = _desugar_block(body, names)
        body = _lift_block(body, names)
    except SourceADError as error:  # raised at a line of fn's: say which file
        if error.filename is not None:
            raise
        raise fn.error(error.message, _Line(error.lineno)) from None
    body = _remove_unread_flags(body)
    body.append(_at(gast.Return(value=_names_expr(outputs)), node.body[-1]))
    node.body = body
    # u += x changes u's array in place in NumPy, where it is written u = u + x from here on:
    # another name for that array is refused (transforms/reverse.py)
    node.augmented_names = {
        n.target.id
        for n in gast.walk(fn.node)
        if isinstance(n, gast.AugAssign) and isinstance(n.target, gast.Name)
    }
    return node


# --- helpers for building nodes -----------------------------------------------------------


def name(identifier: str, store: bool = False) -> gast.Name:
    ctx = gast.Store() if store else gast.Load()
    return gast.Name(id=identifier, ctx=ctx, annotation=None, type_comment=None)


def assign(target: str | gast.expr, value: gast.expr, like: gast.AST | None = None) -> gast.Assign:
    if isinstance(target, str):
        target = name(target, store=True)
    return _at(gast.Assign(targets=[target], value=value, type_comment=None), like)


def constant(value) -> gast.Constant:
    return gast.Constant(value=value, kind=None)


def if_(test: gast.expr, body: list, orelse: list | None = None, like=None) -> gast.If:
    return _at(gast.If(test=test, body=body, orelse=orelse or []), like)


def not_any(flags: list[str]) -> gast.expr:
    if len(flags) == 1:
        test = name(flags[0])
    else:
        test = gast.BoolOp(op=gast.Or(), values=[name(f) for f in flags])
    return gast.UnaryOp(op=gast.Not(), operand=test)


def _names_expr(identifiers: list[str]) -> gast.expr:
    if len(identifiers) == 1:
        return name(identifiers[0])
    return gast.Tuple(elts=[name(i) for i in identifiers], ctx=gast.Load())


def _at(node, like):
    """Give ``node`` (and its children without one) the line number of ``like``."""
    lineno = getattr(like, "lineno", None)
    if lineno is not None:
        for child in gast.walk(node):
            if getattr(child, "lineno", None) is None and "lineno" in child._attributes:
                child.lineno = lineno
                child.end_lineno = lineno
                child.col_offset = 0
                child.end_col_offset = 0
    return node


class _JumpStructurer:
    """Turns jumps into flag assignments and guards the statements they skip."""

    def __init__(self, names: NameGenerator):
        self.names = names
        self.outputs: list[str] | None = None
        self.returned = None  # the flag set by an early return, made on first need
        self.loops: list[dict] = []  # per enclosing loop: its break and continue flags

    def function_body(self, body, fn: ParsedFunction):
        returns = [
            n
            for n in gast.walk(gast.Module(body=body, type_ignores=[]))
            if isinstance(n, gast.Return)
        ]
        arities = {len(r.value.elts) if isinstance(r.value, gast.Tuple) else 1 for r in returns}
        if not returns:
            written = sorted(
                {
                    n.value.id
                    for n in gast.walk(gast.Module(body=body, type_ignores=[]))
                    if isinstance(n, gast.Subscript)
                    and isinstance(n.ctx, gast.Store)
                    and isinstance(n.value, gast.Name)
                    and n.value.id in fn.params
                }
            )
            if written:  # a helper that sets boundary values, say
                raise fn.error(
                    f"{fn.name} writes into its argument {', '.join(written)} and returns "
                    "nothing: functions sourcead differentiates must not change their "
                    f"arguments; return a new array instead ({written[0]} = "
                    f"{fn.name}({written[0]}), writing into a copy)",
                    fn.node,
                )
            raise fn.error("a function to differentiate must return a value", fn.node)
        if len(arities) > 1:
            raise fn.error(
                "all return statements must return the same number of values", returns[-1]
            )
        arity = arities.pop()
        base = "result"
        self.outputs = (
            [self.names.fresh(base)]
            if arity == 1
            else [self.names.fresh(f"{base}_{k}") for k in range(arity)]
        )
        if not _always_exits(body):
            raise fn.error("every path through the function must end in a return", fn.node.body[-1])
        new_body, _ = self.block(body)
        if self.returned is not None:
            new_body.insert(0, assign(self.returned, constant(False), body[0]))
        return new_body, self.outputs

    def block(self, body: list) -> tuple[list, set[str]]:
        """The structured block and the flags it may leave set."""
        out: list = []
        for index, stmt in enumerate(body):
            new, flags = self.statement(stmt)
            out.extend(new)
            if isinstance(stmt, gast.Return | gast.Break | gast.Continue):
                return out, flags  # the rest of the block is never reached
            if flags:
                rest, rest_flags = self.block(body[index + 1 :])
                if rest:
                    last = out[-1]
                    if (
                        isinstance(last, gast.If)
                        and _always_sets(last.body)
                        and not _sets_any(last.orelse)
                    ):
                        last.orelse.extend(rest)
                    elif (
                        isinstance(last, gast.If)
                        and _always_sets(last.orelse)
                        and not _sets_any(last.body)
                    ):
                        last.body.extend(rest)
                    else:
                        out.append(if_(not_any(sorted(flags)), rest, like=body[index + 1]))
                return out, flags | rest_flags
        return out, set()

    def statement(self, stmt) -> tuple[list, set[str]]:
        if isinstance(stmt, gast.Return):
            return self.return_(stmt)
        if isinstance(stmt, gast.Break):
            flag = self.loops[-1]["break"]
            return [_flag_set(assign(flag, constant(True), stmt))], {flag}
        if isinstance(stmt, gast.Continue):
            flag = self.loops[-1]["continue"]
            return [_flag_set(assign(flag, constant(True), stmt))], {flag}
        if isinstance(stmt, gast.If):
            stmt.body, body_flags = self.block(stmt.body)
            stmt.orelse, else_flags = self.block(stmt.orelse)
            if not stmt.body:
                stmt.body = [_at(gast.Pass(), stmt)]
            return [stmt], body_flags | else_flags
        if isinstance(stmt, gast.For | gast.While):
            return self.loop(stmt)
        return [stmt], set()

    def return_(self, stmt: gast.Return) -> tuple[list, set[str]]:
        value = stmt.value
        if len(self.outputs) == 1:
            out = [assign(self.outputs[0], value, stmt)]
        else:
            targets = gast.Tuple(elts=[name(o, True) for o in self.outputs], ctx=gast.Store())
            out = [assign(targets, value, stmt)]
        if self.returned is None:
            self.returned = self.names.fresh("returned")
        out.append(_flag_set(assign(self.returned, constant(True), stmt)))
        return out, {self.returned}

    def loop(self, stmt) -> tuple[list, set[str]]:
        jumps = _direct_jumps(stmt.body)
        flags = {
            "break": self.names.fresh("break_loop") if gast.Break in jumps else None,
            "continue": self.names.fresh("continue_loop") if gast.Continue in jumps else None,
        }
        self.loops.append(flags)
        body, body_flags = self.block(stmt.body)
        self.loops.pop()
        before = []
        if flags["break"]:
            before.append(assign(flags["break"], constant(False), stmt))
        if flags["continue"]:
            body.insert(0, assign(flags["continue"], constant(False), stmt))
        exits = sorted(f for f in body_flags if f != flags["continue"])
        if exits:
            test = (
                name(exits[0])
                if len(exits) == 1
                else gast.BoolOp(op=gast.Or(), values=[name(f) for f in exits])
            )
            body.append(if_(test, [_at(gast.Break(), stmt)], like=stmt))
        stmt.body = body or [_at(gast.Pass(), stmt)]
        leaving = {f for f in body_flags if f == self.returned}
        return [*before, stmt], leaving


def _flag_set(node: gast.Assign) -> gast.Assign:
    node.sets_flag = True
    return node


def _sets_any(body: list) -> bool:
    return any(getattr(n, "sets_flag", False) for s in body for n in gast.walk(s))


def _always_sets(body: list) -> bool:
    """Every path through ``body`` ends by setting a jump flag."""
    if not body:
        return False
    last = body[-1]
    if getattr(last, "sets_flag", False):
        return True
    if isinstance(last, gast.If):
        return _always_sets(last.body) and _always_sets(last.orelse)
    return any(getattr(s, "sets_flag", False) for s in body)


def _always_exits(body: list) -> bool:
    """Every path through the user's ``body`` ends in a return."""
    for stmt in body:
        if isinstance(stmt, gast.Return):
            return True
        if isinstance(stmt, gast.If) and _always_exits(stmt.body) and _always_exits(stmt.orelse):
            return True
        if (
            isinstance(stmt, gast.While)
            and isinstance(stmt.test, gast.Constant)
            and stmt.test.value is True
            and gast.Break not in _direct_jumps(stmt.body)
        ):
            return True  # while True without break: left only by a return
    return False


def _direct_jumps(body: list) -> set[type]:
    """The kinds of break/continue in ``body`` that belong to this loop (not nested ones)."""
    found = set()
    for stmt in body:
        if isinstance(stmt, gast.Break | gast.Continue):
            found.add(type(stmt))
        elif isinstance(stmt, gast.If):
            found |= _direct_jumps(stmt.body) | _direct_jumps(stmt.orelse)
    return found


# --- assignments ---------------------------------------------------------------------------


def _desugar_block(body: list, names: NameGenerator) -> list:
    out = []
    for stmt in body:
        if isinstance(stmt, gast.AugAssign):
            target_load = copy.deepcopy(stmt.target)
            _set_ctx(target_load, gast.Load())
            value = gast.BinOp(left=target_load, op=stmt.op, right=stmt.value)
            out.append(assign(stmt.target, _at(value, stmt), stmt))
            out[-1].augmented = True  # NumPy changes the array in place (lowering/views.py)
        elif isinstance(stmt, gast.Assign):
            out.extend(_desugar_assign(stmt, names))
        elif isinstance(stmt, gast.If):
            stmt.body = _desugar_block(stmt.body, names)
            stmt.orelse = _desugar_block(stmt.orelse, names)
            out.append(stmt)
        elif isinstance(stmt, gast.For):
            stmt.body = _desugar_block(stmt.body, names)
            variable = stmt.target.id
            if any(
                isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store) and n.id == variable
                for s in stmt.body
                for n in gast.walk(s)
            ):
                # the body reassigns the loop variable: iterate a fresh name and copy it, so
                # the reversed loop restores the variable like any other
                counter = names.fresh(f"{variable}_range")
                stmt.target = name(counter, store=True)
                stmt.body.insert(0, assign(variable, name(counter), stmt))
            out.append(stmt)
        elif isinstance(stmt, gast.While):
            stmt.body = _desugar_block(stmt.body, names)
            out.append(stmt)
        elif isinstance(stmt, gast.Pass):
            continue
        else:
            out.append(stmt)
    return out


def _desugar_assign(stmt: gast.Assign, names: NameGenerator) -> list:
    flag = getattr(stmt, "sets_flag", False)
    if len(stmt.targets) > 1:  # x = y = value: evaluate once, assign left to right
        first, *others = stmt.targets
        out = _desugar_assign(assign(first, stmt.value, stmt), names)
        source = first if isinstance(first, gast.Name) else None
        for target in others:
            if source is None:
                raise _error_at(stmt, "chained assignment to an element or a tuple")
            out.extend(_desugar_assign(assign(target, name(source.id), stmt), names))
        return out
    target, value = stmt.targets[0], stmt.value
    if is_permutation(stmt):
        return [stmt]  # a, b = b, a: reversed by the inverse permutation, without a tape
    if isinstance(target, gast.Tuple) and isinstance(value, gast.Attribute):  # n, m = a.shape
        return [
            assign(
                t,
                gast.Subscript(value=copy.deepcopy(value), slice=constant(k), ctx=gast.Load()),
                stmt,
            )
            for k, t in enumerate(target.elts)
        ]
    if isinstance(target, gast.Tuple) and isinstance(value, gast.Tuple):
        if len(target.elts) != len(value.elts):
            raise _error_at(stmt, "unpacking a tuple into the wrong number of names")
        if not all(isinstance(t, gast.Name) for t in target.elts):
            return _elements_unpacked(stmt, target, value, names)
        assigned = {t.id for t in target.elts}
        out, sources = [], []
        for element in value.elts:
            reads = {n.id for n in gast.walk(element) if isinstance(n, gast.Name)}
            if reads & assigned and not (
                isinstance(element, gast.Name) and _only_later(element, target, value)
            ):
                temp = names.fresh(f"{_hint(element)}_old")
                out.append(assign(temp, element, stmt))
                sources.append(name(temp))
            else:
                sources.append(element)
        for t, source in zip(target.elts, sources, strict=True):
            out.append(assign(t, source, stmt))
        return out
    new = assign(target, value, stmt)
    if flag:
        _flag_set(new)
    if hasattr(stmt, "refusal"):  # what a desugared form says when its types do not fit
        new.refusal = stmt.refusal
    return [new]


def _elements_unpacked(stmt, target: gast.Tuple, value: gast.Tuple, names) -> list:
    """``b[i], b[j] = b[j], b[i]``: Python evaluates every value, then assigns the targets
    left to right (an index reads the names assigned before it), as these assignments do."""
    out, sources = [], []
    for element in value.elts:
        if isinstance(element, gast.Constant):
            sources.append(element)
            continue
        temp = names.fresh(f"{_hint(element)}_old")
        out.append(assign(temp, element, stmt))
        out[-1].unpacked = stmt  # a view of rows it names is refused at the statement
        sources.append(name(temp))
    for t, source in zip(target.elts, sources, strict=True):
        out.extend(_desugar_assign(assign(t, source, stmt), names))
    return out


def _only_later(element: gast.Name, target: gast.Tuple, value: gast.Tuple) -> bool:
    """True when the name ``element`` is assigned only at or after its own position."""
    position = value.elts.index(element)
    return all(t.id != element.id for t in target.elts[:position])


def _hint(node: gast.expr) -> str:
    return node.id if isinstance(node, gast.Name) else "tmp"


def _set_ctx(node: gast.expr, ctx) -> None:
    if hasattr(node, "ctx"):
        node.ctx = ctx


def _error_at(node, message: str):
    """A refusal at ``node``'s line; ``normalize`` adds the file."""
    return SourceADError(message, None, getattr(node, "lineno", None))


@dataclass
class _Line:
    """Where a refusal of ``normalize`` points: a line of the function's file."""

    lineno: int | None


# --- conditional expressions and calls of user functions get statements of their own ----------


def _lift_block(body: list, names: NameGenerator) -> list:
    out = []
    for stmt in body:
        if isinstance(stmt, gast.If):
            pre, stmt.test = _lift(stmt.test, names, stmt, whole=False)
            stmt.body = _lift_block(stmt.body, names)
            stmt.orelse = _lift_block(stmt.orelse, names)
            out.extend(pre)
            out.append(stmt)
        elif isinstance(stmt, gast.For):
            pre, stmt.iter = _lift(stmt.iter, names, stmt, whole=False)
            stmt.body = _lift_block(stmt.body, names)
            out.extend(pre)
            out.append(stmt)
        elif isinstance(stmt, gast.While):
            pre, test = _lift(stmt.test, names, stmt, whole=False)
            if pre:
                raise _error_at(
                    stmt,
                    "a while condition with a conditional expression or a call of your own "
                    "function (compute it into a variable before the loop and at the end of the body)",
                )
            stmt.body = _lift_block(stmt.body, names)
            out.append(stmt)
        elif isinstance(stmt, gast.Assign):
            value = stmt.value
            if isinstance(value, gast.IfExp):
                out.extend(_lift_block(_if_from_ifexp(stmt.targets[0], value, stmt), names))
                continue
            # a call stays whole only when it binds names; an element takes a lifted value
            whole = not isinstance(stmt.targets[0], gast.Subscript)
            pre, stmt.value = _lift(value, names, stmt, whole=whole)
            for index in _subscript_indices(stmt.targets[0]):
                index_pre, _ = _lift(index, names, stmt, whole=False)
                if index_pre:
                    raise _error_at(stmt, "a conditional expression or call inside an index")
            out.extend(pre)
            out.append(stmt)
        elif isinstance(stmt, gast.Expr):
            pre, stmt.value = _lift(stmt.value, names, stmt, whole=True)
            out.extend(pre)
            out.append(stmt)
        else:
            out.append(stmt)
    return out


def _subscript_indices(target):
    if isinstance(target, gast.Subscript):
        return [target.slice]
    return []


def _if_from_ifexp(target, value: gast.IfExp, like) -> list:
    return [
        if_(
            value.test,
            [assign(copy.deepcopy(target), value.body, like)],
            [assign(copy.deepcopy(target), value.orelse, like)],
            like=like,
        )
    ]


#: Calls that get a statement of their own: user functions, solvers (fixed_point, ...) and
#: ``sourcead.jvp``.
_LIFTED_CALLS = ("user", "solver", "jvp")


def _lift(expr, names: NameGenerator, like, whole: bool) -> tuple[list, gast.expr]:
    """Statements to run first, and ``expr`` with its IfExps and user calls replaced by names.

    ``whole``: the expression is the whole value of an assignment, where a user call may stay.
    """
    pre: list = []

    class Lifter(gast.NodeTransformer):
        def visit_IfExp(self, node):
            node = self.generic_visit(node)
            temp = names.fresh("choice")
            pre.extend(_lift_block(_if_from_ifexp(name(temp, True), node, like), names))
            return name(temp)

        def visit_Call(self, node):
            node = self.generic_visit(node)
            callee = getattr(node, "callee", None)
            if callee is not None and callee.kind in _LIFTED_CALLS and node is not expr:
                temp = names.fresh(f"{callee.target.__name__}_value")
                pre.append(assign(temp, node, like))
                return name(temp)
            return node

    if isinstance(expr, gast.BoolOp | gast.Compare | gast.UnaryOp) and _has_user_call(expr):
        raise _error_at(like, "a call of your own function inside a condition")
    new = Lifter().visit(expr)
    if not whole and isinstance(expr, gast.Call) and getattr(expr, "callee", None) is not None:
        if expr.callee.kind in _LIFTED_CALLS:
            temp = names.fresh(f"{expr.callee.target.__name__}_value")
            pre.append(assign(temp, new, like))
            new = name(temp)
    return pre, new


def _has_user_call(expr) -> bool:
    return any(
        isinstance(n, gast.Call)
        and getattr(n, "callee", None) is not None
        and n.callee.kind in _LIFTED_CALLS
        for n in gast.walk(expr)
    )


def _remove_unread_flags(body: list) -> list:
    """Drop assignments to jump flags that no guard reads (jumps that became if/else)."""
    module = gast.Module(body=body, type_ignores=[])
    read = {
        n.id for n in gast.walk(module) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)
    }

    def is_unread_flag(stmt) -> bool:
        return (
            isinstance(stmt, gast.Assign)
            and isinstance(stmt.targets[0], gast.Name)
            and isinstance(stmt.value, gast.Constant)
            and isinstance(stmt.value.value, bool)
            and stmt.targets[0].id not in read
        )

    def clean(block: list) -> list:
        out = []
        for stmt in block:
            if is_unread_flag(stmt):
                continue
            for field in ("body", "orelse"):
                if hasattr(stmt, field) and isinstance(getattr(stmt, field), list):
                    setattr(stmt, field, clean(getattr(stmt, field)))
            if isinstance(stmt, gast.If | gast.For | gast.While) and not stmt.body:
                stmt.body = [_at(gast.Pass(), stmt)]
            out.append(stmt)
        return out

    return clean(body)


def permutation_partners(body: list) -> dict[str, set[str]]:
    """For each name of a permutation ``a, b = b, a`` in ``body``, the names whose values it
    may take or give (through several permutations too: ``u, v = v, u`` then ``v, w = w, v``)."""
    groups: dict[str, set[str]] = {}
    for stmt in walk_statements(body):
        if is_permutation(stmt):
            group = {e.id for e in stmt.targets[0].elts}
            for n in list(group):
                group |= groups.get(n, set())
            for n in group:
                groups[n] = group
    return {n: group - {n} for n, group in groups.items()}


def is_permutation(stmt) -> bool:
    """``a, b = b, a`` and the like: plain names rearranged among themselves."""
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1):
        return False
    target, value = stmt.targets[0], stmt.value
    if not (isinstance(target, gast.Tuple) and isinstance(value, gast.Tuple)):
        return False
    if not all(isinstance(e, gast.Name) for e in target.elts + value.elts):
        return False
    targets = [e.id for e in target.elts]
    values = [e.id for e in value.elts]
    return len(set(targets)) == len(targets) and sorted(targets) == sorted(values)
