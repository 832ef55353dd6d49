"""Fresh, readable names that never collide with the user's."""

from __future__ import annotations

import builtins

import gast
import sourcead_runtime

#: Names every generated module binds at its top: its imports and the runtime's helpers (a
#: user's array ``new`` must not get a tape called ``new_tape``).
MODULE_NAMES = frozenset({"math", "np", "numba", "sourcead_runtime", *sourcead_runtime.__all__})

#: Names generated code must be able to read as they are: the module's and Python's builtins
#: (the code that grows a tape calls ``max`` and ``len``). No generated name is one of them,
#: and a local name of the user's that is one is renamed (``frontend/renaming.py``).
RESERVED_NAMES = MODULE_NAMES | frozenset(dir(builtins))


class NameGenerator:
    """Hands out names like ``tmp``, ``tmp2``, … that are not used anywhere in a tree, nor
    by the generated module, nor Python's builtins (``RESERVED_NAMES``)."""

    def __init__(self, tree: gast.AST | None = None):
        self.used: set[str] = set(RESERVED_NAMES)
        if tree is not None:
            self.reserve_from(tree)

    def reserve_from(self, tree: gast.AST) -> None:
        for node in gast.walk(tree):
            if isinstance(node, gast.Name):
                self.used.add(node.id)
            elif isinstance(node, gast.FunctionDef):
                self.used.add(node.name)

    def fresh(self, base: str) -> str:
        """``base``, else ``base2``, ``base3``, … (``w1_v2`` for a base ending in a digit).
        Not ``base_1``: Numba names the versions of a variable ``base.1`` and, fusing array
        expressions, writes them ``base_1``, which two names of one expression then share
        (an ``AssertionError: 'product_1_1' not unique`` from Numba)."""
        name, counter = base, 1
        while name in self.used:
            counter += 1
            name = f"{base}_v{counter}" if base[-1:].isdigit() else f"{base}{counter}"
        self.used.add(name)
        return name


def fresh_underscored(base: str, taken: set) -> str:
    """``base``, or ``base_``, ``base__``…: the first not in ``taken`` (which it joins)."""
    name = base
    while name in taken:
        name += "_"
    taken.add(name)
    return name
