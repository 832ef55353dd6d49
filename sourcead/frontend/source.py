"""Source retrieval and parsing: from a Python function object to a gast tree.

Everything later in the pipeline works on the tree returned here, whose line numbers
are those of the user's file, so errors can point at the user's own lines.
"""

from __future__ import annotations

import builtins
import inspect
import textwrap
import types
from dataclasses import dataclass, field

import gast
import numpy as np

from ..errors import SourceADError
from ..trees.codegen import dotted_name
from ..trees.functions import source_lines, unwrap


@dataclass
class ParsedFunction:
    """A user function, parsed.

    Attributes:
        pyfunc: the Python function (a Numba dispatcher is unwrapped to its ``py_func``).
        node: its ``gast.FunctionDef``, line numbers as in ``filename``, decorators removed.
        filename: the file that holds its source.
        namespace: closure variables first, then globals: what free names refer to.
        reads: every free name and dotted name (``consts.C``) resolved so far, with the
            object it referred to, so that a rebinding can be noticed (``is_current``).
        constants: the module-level tuples and lists of numbers read, by name: their numbers
            are written into the tree (``frontend.desugar``), so no node names them.
    """

    pyfunc: types.FunctionType
    node: gast.FunctionDef
    filename: str
    namespace: dict = field(repr=False)
    reads: dict = field(default_factory=dict, repr=False)
    constants: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def params(self) -> list[str]:
        return [arg.id for arg in self.node.args.args]

    def error(self, message: str, node: gast.AST | None = None) -> SourceADError:
        """A SourceADError at ``node``'s line of this function's file."""
        lineno = getattr(node, "lineno", None) if node is not None else self.node.lineno
        return SourceADError(message, self.filename, lineno)

    def lookup(self, name: str):
        """The object a free name refers to; raises KeyError when it is unbound."""
        return self.lookup_dotted(name)

    def lookup_dotted(self, dotted: str):
        """The object a dotted name (``consts.C``) refers to, noted in ``reads``; KeyError or
        AttributeError when it refers to none."""
        value = _resolved(self.namespace, dotted)
        self.reads[dotted] = value
        return value

    def resolve(self, node: gast.expr):
        """The object a free name or dotted name (``numba.float64``) refers to; KeyError or
        AttributeError when it refers to none, or ``node`` is no such name."""
        if isinstance(node, gast.Name):
            return self.lookup(node.id)
        if isinstance(node, gast.Attribute):
            value = getattr(self.resolve(node.value), node.attr)
            dotted = dotted_name(node)
            if dotted is not None:
                self.reads[dotted] = value
            return value
        raise KeyError(node)

    def is_current(self) -> bool:
        """Whether every name read so far still refers to the same object (or an equal number):
        False once a global, a closure variable or a helper it names was rebound."""
        pyfunc = self.pyfunc
        free = pyfunc.__code__.co_freevars
        for dotted, value in self.reads.items():
            first, *rest = dotted.split(".")
            try:  # as _namespace reads it: closure variables, globals, builtins
                if first in free:
                    now = pyfunc.__closure__[free.index(first)].cell_contents
                elif first in pyfunc.__globals__:
                    now = pyfunc.__globals__[first]
                else:
                    now = getattr(builtins, first)
                for part in rest:
                    now = getattr(now, part)
            except (ValueError, AttributeError):  # an emptied cell, a name gone
                return False
            if now is not value and not _same(now, value):
                return False
        return True


def load_function(fn) -> ParsedFunction:
    """Read ``fn``'s source and parse it; SourceADError when that is impossible."""
    pyfunc = unwrap(fn)
    if isinstance(pyfunc, types.MethodType) and isinstance(pyfunc.__func__, types.FunctionType):
        raise _method_error(pyfunc)
    if not isinstance(pyfunc, types.FunctionType):
        raise SourceADError(
            f"sourcead differentiates Python functions; got {type(fn).__name__} {fn!r}"
        )
    filename = inspect.getsourcefile(pyfunc) or pyfunc.__code__.co_filename
    if pyfunc.__code__.co_name == "<lambda>":  # its source is the line around it, not a def
        raise SourceADError(
            "lambda functions are not supported by sourcead; define the function with def",
            filename,
            pyfunc.__code__.co_firstlineno,
        )
    lines, first_line = source_lines(pyfunc)
    source = textwrap.dedent("".join(lines))
    try:
        module = gast.parse(source)
    except SyntaxError as exc:
        raise SourceADError(
            f"cannot parse the source of {pyfunc.__qualname__}: {exc.msg}",
            filename,
            first_line + (exc.lineno or 1) - 1,
        ) from None
    node = module.body[0] if module.body else None
    if isinstance(node, gast.AsyncFunctionDef):  # await, async for and async with too
        raise SourceADError(
            f"async functions are not supported by sourcead (async def {pyfunc.__name__}); "
            "sourcead needs a plain def",
            filename,
            first_line + node.lineno - 1,
        )
    if not isinstance(node, gast.FunctionDef):
        raise SourceADError(
            f"{pyfunc.__qualname__} is not defined by a def statement (a lambda?); "
            "sourcead needs a def",
            filename,
            first_line,
        )
    if node.name != pyfunc.__code__.co_name:  # the file was edited after it was imported
        raise SourceADError(
            f"the source of {pyfunc.__qualname__} changed since it was loaded: its line now "
            f"defines {node.name} (reload the module, or run the cell again)",
            filename,
            first_line,
        )
    for child in gast.walk(node):
        if hasattr(child, "lineno") and child.lineno is not None:
            child.lineno += first_line - 1
        if hasattr(child, "end_lineno") and child.end_lineno is not None:
            child.end_lineno += first_line - 1
    node.decorator_list = []
    return ParsedFunction(pyfunc, node, filename, _namespace(pyfunc))


def _method_error(method: types.MethodType) -> SourceADError:
    """The refusal of a bound method, at the line of its def (``self`` is no number)."""
    parsed = load_function(method.__func__)  # an unreadable source is reported first
    return SourceADError(
        f"bound methods are not supported by sourcead ({method.__qualname__}); "
        "differentiate a plain function of numbers and arrays instead",
        parsed.filename,
        parsed.node.lineno,
    )


def _resolved(namespace: dict, dotted: str):
    """The object ``dotted`` names in ``namespace`` (then the builtins)."""
    first, *rest = dotted.split(".")
    if first in namespace:
        value = namespace[first]
    elif hasattr(builtins, first):
        value = getattr(builtins, first)
    else:
        raise KeyError(first)
    for part in rest:
        value = getattr(value, part)
    return value


def _same(now, before) -> bool:
    """The same object, or numbers that generated code cannot tell apart (``K = 2.0`` again)."""
    if now is before:
        return True
    numbers_ = (bool, int, float, complex)
    if isinstance(now, np.ndarray) and isinstance(before, np.ndarray):
        # a module-level array read as constants (frontend.desugar keeps a copy): its numbers
        return now.dtype == before.dtype and now.shape == before.shape and (now == before).all()
    return type(now) is type(before) and isinstance(now, numbers_) and now == before


def _namespace(pyfunc: types.FunctionType) -> dict:
    namespace = dict(pyfunc.__globals__)
    if pyfunc.__closure__:
        for name, cell in zip(pyfunc.__code__.co_freevars, pyfunc.__closure__, strict=True):
            try:
                namespace[name] = cell.cell_contents
            except ValueError:  # an empty cell: the name is not bound yet
                pass
    return namespace


def wrt_names(wrt, params: list[str], parsed) -> list[str]:
    """The parameter names that ``wrt`` (an index, a name, or a tuple of them) designates;
    SourceADError at the function's line for an empty, out-of-range or unknown one."""
    items = wrt if isinstance(wrt, tuple) else (wrt,)
    if not items:
        raise SourceADError(
            "wrt is empty: name at least one argument", parsed.filename, parsed.node.lineno
        )
    names = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise SourceADError(
                f"wrt must hold argument indices or names, not {item!r}",
                parsed.filename,
                parsed.node.lineno,
            )
        if isinstance(item, int):
            if not -len(params) <= item < len(params):
                raise SourceADError(
                    f"wrt={item} is out of range: {parsed.name} has {len(params)} argument(s)",
                    parsed.filename,
                    parsed.node.lineno,
                )
            names.append(params[item])
        else:
            if item not in params:
                raise SourceADError(
                    f"wrt names {item!r}, which is not an argument of {parsed.name} ({', '.join(params)})",
                    parsed.filename,
                    parsed.node.lineno,
                )
            names.append(item)
    return names
