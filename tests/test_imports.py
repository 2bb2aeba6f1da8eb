"""The package has no import circle: its parts, taken as nodes, import each other as a DAG.

A node is a subpackage of samprompt (`samprompt.core`, `samprompt.refsam`, ...) or a top-level
module (`samprompt.model`). An edge is a module-level import (not one under `TYPE_CHECKING`, not
one inside a function, which are lazy by design) from a module of one node of another node.
"""
from __future__ import annotations

import ast
from pathlib import Path

import samprompt

PACKAGE = Path(samprompt.__file__).parent


def node_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Import):
            found |= {alias.name for alias in statement.names}
        elif isinstance(statement, ast.ImportFrom) and statement.module and statement.level == 0:
            found.add(statement.module)
    return {name for name in found if name.startswith("samprompt.")}


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(("samprompt", *path.relative_to(PACKAGE).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        if module == "samprompt":
            continue  # the root __init__ re-exports the public API; it is imported by everything
        source = node_of(module)
        targets = {node_of(name) for name in module_level_imports(path)} - {source, "samprompt"}
        graph.setdefault(source, set()).update(targets)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_package_parts_import_each_other_without_a_circle():
    graph = import_graph()
    assert {"samprompt.core", "samprompt.methods", "samprompt.tuning"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
