"""Draw ``docs/_static/bff-architecture.svg``: django_bff's modules in layers, and the data flow.

Run it from anywhere after changing the package's modules or their imports, and
commit the SVG with it::

    python docs/diagrams/architecture.py

Standard library only. The modules are not listed by hand: the script walks
``django_bff/`` and reads every module's imports (at the top, in functions, not
those under ``if TYPE_CHECKING:``). :data:`LAYERS` places each module in a
layer, top (what Django calls) to bottom (what everything uses), and the script
refuses to draw when a module has no layer, when an import points up a layer,
or when imports form a cycle. So the drawing is also the check that the data
flows one way: ``tests/test_docs.py`` checks that the committed SVG is what this
script draws.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from svg import INK, Diagram, text_width  # noqa: E402  (beside this script, which is run as a file)

PACKAGE = Path(__file__).resolve().parents[2] / "django_bff"
OUTPUT = Path(__file__).resolve().parent.parent / "_static" / "bff-architecture.svg"

#: Folders of the package that hold no module of the data flow.
SKIPPED = ("migrations",)

#: Top to bottom: (title, what the layer does, its modules). A module may import
#: modules of its own layer and of the layers below it, never above.
LAYERS: list[tuple[str, str, list[str]]] = [
    (
        "Entry points",
        "what Django, the browser and the provider call",
        [
            "apps",
            "checks",
            "checks.values",
            "checks.storage",
            "checks.caches",
            "checks.oidc",
            "checks.security",
            "checks.routes",
            "checks.clients",
            "checks.sessions",
            "checks.deploy",
            "checks.messages",
            "urls",
            "views",
            "views.login",
            "views.logout",
            "views.user",
            "views.backchannel",
            "views.diagnostics",
            "proxy",
            "proxy.view",
            "proxy.async_view",
            "decorators",
            "drf",
            "middleware",
            "asgi",
            "asgi.application",
            "asgi.body_limit",
            "auth",
            "receivers",
            "testing",
            "management.commands.bff_sessions",
        ],
    ),
    (
        "Per request",
        "anti-forgery, path and header rules, streaming, which token",
        [
            "antiforgery",
            "proxy.routes",
            "proxy.paths",
            "proxy.headers",
            "proxy.calls",
            "proxy.transport",
            "proxy.async_transport",
            "proxy.dpop",
            "asgi.handshake",
            "asgi.websocket",
            "retrievers",
            "http",
            "responses",
        ],
    ),
    (
        "Tokens",
        "refresh, client tokens and exchanges, one at a time",
        [
            "token_manager",
            "token_manager.user",
            "token_manager.client",
            "token_manager.single_flight",
            "token_manager.flow",
            "sessions",
            "handoff",
        ],
    ),
    (
        "Storage and the token service",
        "encrypted stores, locks, the back-channel",
        [
            "stores",
            "stores.base",
            "stores.record",
            "stores.session",
            "stores.cache",
            "token_memory",
            "session_index",
            "codecs",
            "crypto",
            "locks",
            "dpop_nonces",
            "models",
            "tokens",
            "clients",
            "oauth",
            "assertions",
            "backchannel",
            "backchannel.session",
            "backchannel.discovery",
            "logout_tokens",
        ],
    ),
    (
        "Foundation",
        "settings, errors, faults, time, telemetry",
        [
            "django_bff",
            "conf",
            "conf.declared",
            "conf.token_groups",
            "conf.http_groups",
            "conf.kinds",
            "conf.references",
            "conf.setting",
            "conf.problems",
            "conf.loading",
            "conf.built",
            "exceptions",
            "faults",
            "clock",
            "session_keys",
            "signals",
            "telemetry",
            "logfilters",
            "dpop",
        ],
    ),
]

#: What flows from each layer to the next one down.
FLOWS = [
    "the view asks the route's retriever",
    "the retriever asks for the user's, client or exchanged token",
    "tokens read and written, locks taken, token requests sent",
    "settings read, errors raised, metrics counted",
]

#: Outside the BFF, drawn right of the layer that talks to them: (name, detail, layer).
OUTSIDE = [
    ("Remote APIs", "token attached", 1),
    ("Identity provider", "token endpoint, JWKS", 3),
    ("Redis, database", "sessions, tokens, locks", 3),
]

WIDTH = 900
MARGIN = 10
COLUMN = 690  # right edge of the layers; the outside parties are right of it
OUTSIDE_X = 725
OUTSIDE_WIDTH = WIDTH - MARGIN - OUTSIDE_X
OUTSIDE_HEIGHT = 36
SIZE = 12
SMALL = 11
BOX_HEIGHT = 22
BOX_GAP = 7
FLOW_GAP = 34

COLORS = {
    "muted": "#57606a",
    "layer": "#f6f8fa",
    "layer_edge": "#d0d7de",
    "module": "#ddf4ff",
    "module_edge": "#54aeff",
    "package": "#fff8c5",
    "package_edge": "#d4a72c",
    "outside": "#fbefff",
    "outside_edge": "#8250df",
}


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    return ".".join(parts) or "django_bff"


def modules() -> dict[str, Path]:
    """Every module of the package that holds code, by dotted name without ``django_bff.``."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(part in SKIPPED for part in path.relative_to(PACKAGE).parts):
            continue
        if path.name == "__init__.py" and not path.read_text(encoding="utf-8").strip():
            continue  # an empty package marker (management/, management/commands/)
        found[module_name(path)] = path
    return found


def _imported(node: ast.AST, package: str) -> list[str]:
    """The ``django_bff`` modules named by an import statement (absolute or relative)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            module = ".".join([*base, module] if module else base)
        return [module, *(f"{module}.{alias.name}" for alias in node.names)]
    return []


def imports() -> dict[str, set[str]]:
    """For each module, the package's modules it imports (``TYPE_CHECKING`` blocks left out)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = "django_bff" + ("" if name == "django_bff" else "." + name)
        if path.name != "__init__.py":
            package = package.rsplit(".", 1)[0]
        found: set[str] = set()
        stack: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                stack.extend(node.orelse)
                continue
            for target in _imported(node, package):
                short = target.removeprefix("django_bff.") if target != "django_bff" else target
                if short in known and short != name:
                    found.add(short)
            stack.extend(ast.iter_child_nodes(node))
        graph[name] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
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
                    found.append(sorted(component))
    return found


def problems(graph: dict[str, set[str]] | None = None) -> list[str]:
    """Why the package's imports (or ``graph``'s) do not fit :data:`LAYERS`; empty when they do."""
    graph = imports() if graph is None else graph
    layer_of: dict[str, int] = {}
    found: list[str] = []
    for number, (_, _, members) in enumerate(LAYERS):
        for member in members:
            if member in layer_of:
                found.append(f"{member} is in two layers")
            layer_of[member] = number
    found += [f"{name} has no layer in LAYERS" for name in sorted(set(graph) - set(layer_of))]
    found += [f"{name} is in LAYERS but not in the package" for name in sorted(set(layer_of) - set(graph))]
    for name in sorted(graph):
        for target in sorted(graph[name]):
            if name in layer_of and target in layer_of and layer_of[target] < layer_of[name]:
                found.append(
                    f"{name} ({LAYERS[layer_of[name]][0]}) imports {target} "
                    f"({LAYERS[layer_of[target]][0]}): imports point down"
                )
    found += [f"an import cycle: {' -> '.join(cycle)}" for cycle in _cycles(graph)]
    return found


def _rows(members: list[str]) -> list[list[tuple[str, float]]]:
    """The module boxes of a layer, as rows that fit the column: (name, box width)."""
    rows: list[list[tuple[str, float]]] = [[]]
    used = 0.0
    room = COLUMN - MARGIN - 20
    for member in members:
        width = text_width(member, SIZE) + 14
        if rows[-1] and used + BOX_GAP + width > room:
            rows.append([])
            used = 0.0
        used += (BOX_GAP if rows[-1] else 0) + width
        rows[-1].append((member, width))
    return rows


def draw() -> str:
    found = problems()
    if found:
        raise ValueError("the package's imports do not fit the layers:\n" + "\n".join(found))
    packages = {name for name, path in modules().items() if path.name == "__init__.py"} - {"django_bff"}
    d = Diagram()
    middle = (MARGIN + COLUMN) / 2
    y = MARGIN
    browser_width = 240
    d.rect(middle - browser_width / 2, y, browser_width, 40, COLORS["outside"], COLORS["outside_edge"], rx="6")
    d.text(middle, y + 17, "Browser", SIZE, **{"font-weight": "bold", "fill": INK})
    d.text(middle, y + 32, "session cookie and X-CSRF: 1, no token", SMALL, fill=COLORS["muted"])
    y += 40
    layer_spans: list[tuple[float, float]] = []
    for number, (title, detail, members) in enumerate(LAYERS):
        label = FLOWS[number - 1] if number else "/bff/... and /api/... calls, the login callback"
        d.line(middle, y, middle, y + FLOW_GAP - 2, INK)
        d.arrowhead_down(middle, y + FLOW_GAP)
        d.text(middle + 10, y + FLOW_GAP / 2 + 4, label, SMALL, anchor="start", fill=COLORS["muted"])
        y += FLOW_GAP
        rows = _rows(members)
        height = 30 + len(rows) * (BOX_HEIGHT + BOX_GAP) + 4
        d.rect(MARGIN, y, COLUMN - MARGIN, height, COLORS["layer"], COLORS["layer_edge"], rx="6")
        title_box = d.text(MARGIN + 10, y + 19, title, SIZE, anchor="start", **{"font-weight": "bold", "fill": INK})
        d.text(title_box.x1 + 10, y + 19, detail, SMALL, anchor="start", fill=COLORS["muted"])
        top = y + 30
        for row in rows:
            x = MARGIN + 10
            for member, width in row:
                fill, edge = (
                    (COLORS["package"], COLORS["package_edge"])
                    if member in packages
                    else (COLORS["module"], COLORS["module_edge"])
                )
                d.rect(x, top, width, BOX_HEIGHT, fill, edge, rx="4")
                d.text(x + width / 2, top + 15, member, SIZE, fill=INK)
                x += width + BOX_GAP
            top += BOX_HEIGHT + BOX_GAP
        layer_spans.append((y, y + height))
        y += height
    stacked: dict[int, int] = {}
    for name, detail, layer in OUTSIDE:
        first, last = layer_spans[layer]
        slot = stacked.get(layer, 0)
        stacked[layer] = slot + 1
        box_y = first + 8 + slot * (OUTSIDE_HEIGHT + 8)
        if box_y + OUTSIDE_HEIGHT > last:
            d.problems.append(f"{name!r} does not fit beside its layer")
        d.rect(OUTSIDE_X, box_y, OUTSIDE_WIDTH, OUTSIDE_HEIGHT, COLORS["outside"], COLORS["outside_edge"], rx="6")
        for box in (
            d.text(OUTSIDE_X + OUTSIDE_WIDTH / 2, box_y + 15, name, SIZE, **{"font-weight": "bold", "fill": INK}),
            d.text(OUTSIDE_X + OUTSIDE_WIDTH / 2, box_y + 29, detail, SMALL, fill=COLORS["muted"]),
        ):
            if box.x1 - box.x0 > OUTSIDE_WIDTH - 8:
                d.problems.append(f"{box.what!r} is wider than its box")
        d.line(COLUMN, box_y + OUTSIDE_HEIGHT / 2, OUTSIDE_X - 10, box_y + OUTSIDE_HEIGHT / 2, INK)
        d.arrowhead(OUTSIDE_X - 1, box_y + OUTSIDE_HEIGHT / 2, 1)
    y += 20
    d.rect(MARGIN, y - 11, 14, 14, COLORS["package"], COLORS["package_edge"], rx="3")
    d.text(
        MARGIN + 20,
        y,
        "a package: its __init__ re-exports the public names of the modules under it",
        SMALL,
        anchor="start",
        fill=COLORS["muted"],
    )
    height = y + 6 + MARGIN
    return d.finish(
        WIDTH,
        height,
        "django_bff's modules in five layers, entry points at the top and the foundation at the bottom; "
        "every import points down a layer or stays in its layer.",
    )


def main() -> int:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(draw(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
