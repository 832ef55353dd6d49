"""The package's structure: stages import only the stages below them, and never in a cycle.

Every import of a sourcead module counts, function-local ones included: a cycle hidden in
a function still ties the modules together. The stages, from the bottom up, are those of
``STAGES`` (docs/design.md describes each).
"""

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sourcead"

#: The stages from the bottom up: a module imports modules of its own stage or of those
#: listed before it.
STAGES = [
    "errors",
    "version",
    "trees",
    "analysis.types",  # the types of values, which the rules' result types are made of
    "rules",
    "analysis",  # type inference and activity, which read the rules
    "frontend",
    "lowering",
    "transforms",
    "backends",  # the package itself; its two backends follow
    "backends.cpu",
    "pipeline",
    "backends.cuda",
    "cache",
    "api",
    "aot",
    "sourcead",  # the package's __init__ (the public names) and __main__
]


def module_files() -> dict[str, Path]:
    """Module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("sourcead", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = module_files()


@functools.cache
def imports_of(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for each import of a sourcead module
    in ``module``, function-local imports included."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name in MODULES]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    found.append((f"{target}.{alias.name}", None, node.lineno))
                elif target in MODULES:
                    found.append((target, alias.name, node.lineno))
    return found


def stage_of(module: str) -> str:
    name = module.removeprefix("sourcead.")
    for stage in sorted(STAGES, key=len, reverse=True):
        if name == stage or name.startswith(stage + "."):
            return stage
    return "sourcead"  # the package itself, __main__


def test_every_module_belongs_to_a_stage():
    unknown = [m for m in MODULES if m != "sourcead" and stage_of(m) == "sourcead"]
    assert unknown in ([], ["sourcead.__main__"])


def test_no_import_cycles():
    graph = {m: {target for target, _, _ in imports_of(m) if target != m} for m in MODULES}
    # Tarjan's strongly connected components, iteratively
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    assert cycles == [], f"import cycles: {cycles}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_stages(module):
    stage = STAGES.index(stage_of(module))
    upward = [
        f"line {line}: {target} ({stage_of(target)})"
        for target, _, line in imports_of(module)
        if STAGES.index(stage_of(target)) > stage
    ]
    assert upward == [], f"{module} ({stage_of(module)}) imports a later stage: {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_uses_another_modules_private_names(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    private = [
        f"line {line}: {target}.{name}"
        for target, name, line in imports_of(module)
        if name and name.startswith("_") and not name.startswith("__")
    ]
    # ``from . import api`` then ``api._load``: private names reached through a module
    aliases = {
        (alias.asname or alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if any(target.endswith("." + alias.name) for target, _, _ in imports_of(module))
    }
    private += [
        f"line {node.lineno}: {node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in aliases
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    ]
    assert private == [], f"{module} uses private names of other modules: {private}"
