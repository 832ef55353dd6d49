"""Nodes of calls that the compiler writes into your code, resolved as the subset check
resolves names: each function node carries the object it refers to (``global_value``).

The rewrites of library calls (``np.linalg.norm(x, 1)`` as ``sum_along(np.abs(x))``,
``np.einsum`` as pairwise contractions, ``np.flip`` as a slice ...) build their calls here.
"""

from __future__ import annotations

import gast


def resolved(function, dotted: str | None = None) -> gast.expr:
    """The name or attribute chain ``dotted`` (``np.linalg.inv``; a runtime helper's
    ``__name__`` by default) that refers to ``function``."""
    parts = (dotted or function.__name__).split(".")
    node = gast.Name(id=parts[0], ctx=gast.Load(), annotation=None, type_comment=None)
    for part in parts[1:]:
        node = gast.Attribute(value=node, attr=part, ctx=gast.Load())
    node.global_value = function
    return node


def located(node, like):
    """``node`` and every node in it at the source location of ``like``."""
    for child in gast.walk(node):
        gast.copy_location(child, like)
    return node


def resolved_call(function, args: list, like, dotted: str | None = None) -> gast.Call:
    """A call of ``function`` (spelled ``dotted``) with ``args``; the call and its function's
    nodes at ``like``'s location (the arguments keep theirs)."""
    func = located(resolved(function, dotted), like)
    return gast.copy_location(gast.Call(func=func, args=args, keywords=[]), like)
