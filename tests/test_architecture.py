"""The package's structure: imports point down the layers, one job per module, and the page and drawing that show it.

``docs/diagrams/architecture.py`` reads every import of the package from the
source (also those inside functions: an import deferred into a function hides a
circle from Python, not from a reader), places each module in a layer, and
refuses to draw when an import points up or imports form a circle. These tests
run that check, and keep ``docs/architecture.rst`` and the committed drawing in
step with the package.
"""

from __future__ import annotations

import ast
import re
import runpy
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: About 400 lines: past it a module is split (STYLE, "Layout").
MAX_LINES = 420


@cache
def architecture() -> dict[str, Any]:
    return runpy.run_path(str(DOCS / "diagrams" / "architecture.py"), run_name="bff_architecture_diagram")


def modules() -> dict[str, Path]:
    return dict(architecture()["modules"]())


def test_the_graph_is_read() -> None:
    graph = architecture()["imports"]()
    assert "handoff" in graph["auth"]  # a top-level import
    assert "token_manager.flow" in graph["token_manager.user"]  # a relative import
    assert "sessions" in graph["receivers"]  # an import inside a function


def test_imports_point_down_the_layers_and_form_no_circle() -> None:
    assert architecture()["problems"]() == []


def test_the_check_sees_an_upward_import_and_a_circle() -> None:
    graph: dict[str, set[str]] = {name: set() for name in modules()}
    graph["tokens"].add("proxy.view")  # the foundation reaching for an entry point
    graph["codecs"].add("locks")
    graph["locks"].add("codecs")  # a circle inside one layer
    assert architecture()["problems"](graph) == [
        "tokens (Storage and the token service) imports proxy.view (Entry points): imports point down",
        "an import cycle: codecs -> locks",
    ]


@pytest.mark.parametrize("module", ["auth", "handoff"])
def test_the_login_hand_off_does_not_reach_the_receivers(module: str) -> None:
    graph = architecture()["imports"]()
    reached, todo = set(), [module]
    while todo:
        for target in graph[todo.pop()] - reached:
            reached.add(target)
            todo.append(target)
    assert "receivers" not in reached and "auth" not in reached - {module}


def test_the_committed_architecture_diagram_is_what_the_script_draws() -> None:
    drawn = architecture()["draw"]()
    committed = (DOCS / "_static" / "bff-architecture.svg").read_text(encoding="utf-8")
    assert committed == drawn, "run: python docs/diagrams/architecture.py"


def test_the_architecture_page_gives_every_module_its_line() -> None:
    page = (DOCS / "architecture.rst").read_text(encoding="utf-8")
    listed = re.findall(r"^``(django_bff(?:\.[\w.]+)?)``$", page, re.M)
    expected = {"django_bff" if name == "django_bff" else f"django_bff.{name}" for name in modules()}
    assert sorted(listed) == sorted(expected)
    assert "bff-architecture.svg" in page


@pytest.mark.parametrize("name", sorted(modules()))
def test_each_module_names_its_job_and_its_place_in_the_data_flow(name: str) -> None:
    path = modules()[name]
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first, _, rest = docstring.partition("\n")
    assert first.strip(), f"{path}: a docstring whose first line says the module's one job"
    assert re.search(r"^In the data flow", rest, re.M), f"{path}: a paragraph 'In the data flow: ...'"


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_passes_about_400_lines(name: str) -> None:
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by job (a package keeps its import path)"


#: Fewer than the 24 the structure issue found; each with its reason.
MAX_TYPE_IGNORES = 23


def test_each_type_ignore_names_its_code_and_says_why() -> None:
    found = [
        (path, number, line)
        for path in modules().values()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "type: ignore" in line
    ]
    without = [f"{p.name}:{n}" for p, n, line in found if not re.search(r"type: ignore\[[\w,-]+\]  # \S", line)]
    assert without == [], "write the reason after the code: # type: ignore[code]  # why"
    assert len(found) <= MAX_TYPE_IGNORES


def test_the_package_reads_wall_clock_time_through_its_clock() -> None:
    reads = re.compile(r"\btime\.time\(\)|\bdatetime\.now\(|\btimezone\.now\(\)|\bdatetime\.utcnow\(")
    found = [
        f"{name}:{number}"
        for name, path in modules().items()
        if name != "clock"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        # The one exception: mozilla-django-oidc's middleware compares this session key with time.time().
        if reads.search(line.split("#")[0]) and "OIDC_ID_TOKEN_EXPIRATION_KEY" not in line
    ]
    assert found == [], "read the time through django_bff.clock.clock (STYLE 18)"
