"""No import circle between django_bff's modules, counting the imports made inside functions.

An import deferred into a function hides a circle from Python, not from a reader:
``auth`` and ``receivers`` used to import each other that way. The graph is read
from the source (``ast``), so every ``import`` counts wherever it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "django_bff"

#: Edges left for now, each with its reason: the stores and the session lifecycle tell the token
#: manager's in-memory tokens (``forget_session_tokens``) that a session's tokens changed, and the
#: token manager reads the stores and the session. Moving that memory below the stores ends it.
KNOWN_EDGES = {
    ("django_bff.stores", "django_bff.token_manager"),
    ("django_bff.sessions", "django_bff.token_manager"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the django_bff modules it imports (at the top or in a function)."""
    modules = _modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([package.rsplit(".", node.level - 1)[0]] + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names]  # owner() finds the module
            for target in targets:
                found = owner(target) if target.startswith("django_bff") else None
                if found is not None and found != name:
                    graph[name].add(found)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "django_bff.handoff" in graph["django_bff.auth"]
    assert "django_bff.token_manager.flow" in graph["django_bff.token_manager.user"]


def test_no_import_circle() -> None:
    graph = import_graph()
    for source, target in KNOWN_EDGES:
        assert target in graph[source], f"{source} -> {target} is gone: drop it from KNOWN_EDGES"
        graph[source].discard(target)
    assert circles(graph) == []


@pytest.mark.parametrize("module", ["django_bff.auth", "django_bff.handoff"])
def test_the_login_hand_off_does_not_reach_the_receivers(module: str) -> None:
    graph = import_graph()
    reached, todo = set(), [module]
    while todo:
        for nxt in graph[todo.pop()] - reached:
            reached.add(nxt)
            todo.append(nxt)
    assert "django_bff.receivers" not in reached and "django_bff.auth" not in reached - {module}
