"""No import circle between django_bff's modules and no upward import, counting the imports made inside functions.

An import deferred into a function hides a circle from Python, not from a reader:
``auth`` and ``receivers`` used to import each other that way, and the stores and
the session lifecycle reached up into the token manager. The graph is read from
the source (``ast``), so every ``import`` counts wherever it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "django_bff"

#: The layers of the data flow, bottom first: a module reaches nothing in a layer above its own.
LAYERS = [
    (
        "settings, tokens, codecs",
        ["conf", "clock", "exceptions", "crypto", "tokens", "codecs", "session_keys", "token_memory"],
    ),
    ("stores, back channel, sessions", ["stores", "backchannel", "oauth", "session_index", "sessions"]),
    ("token manager", ["token_manager"]),
    ("retrievers", ["retrievers", "http"]),
    ("proxy, views", ["proxy", "views"]),
]


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
    assert circles(import_graph()) == []


def reach(graph: dict[str, set[str]], module: str) -> set[str]:
    """Every module ``module`` imports, directly or through others."""
    reached: set[str] = set()
    todo = [module]
    while todo:
        for nxt in graph[todo.pop()] - reached:
            reached.add(nxt)
            todo.append(nxt)
    return reached


def layer_of(module: str) -> int | None:
    for number, (_, members) in enumerate(LAYERS):
        if any(module == f"django_bff.{m}" or module.startswith(f"django_bff.{m}.") for m in members):
            return number
    return None


def test_every_layer_names_modules_that_exist() -> None:
    graph = import_graph()
    for _, members in LAYERS:
        for member in members:
            assert f"django_bff.{member}" in graph, member


@pytest.mark.parametrize("layer", range(len(LAYERS) - 1), ids=[name for name, _ in LAYERS[:-1]])
def test_no_module_reaches_up_the_layers(layer: int) -> None:
    graph = import_graph()
    for module in graph:
        if layer_of(module) != layer:
            continue
        above = {m for m in reach(graph, module) if (layer_of(m) is not None and layer_of(m) > layer)}
        assert above == set(), f"{module} reaches up into {sorted(above)}"


@pytest.mark.parametrize("module", ["django_bff.auth", "django_bff.handoff"])
def test_the_login_hand_off_does_not_reach_the_receivers(module: str) -> None:
    reached = reach(import_graph(), module)
    assert "django_bff.receivers" not in reached and "django_bff.auth" not in reached - {module}
