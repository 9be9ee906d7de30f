"""The test tree's own rules (STYLE 19): helpers live in tests/support, and no test module imports another."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
#: A dotted path into a test module (an import, or a setting naming a class by its path).
TEST_MODULE = re.compile(r"^tests(\.\w+)*\.(test_\w+|conftest)(\.|$)")


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "node_modules" not in p.parts)


def imported(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, and every string in it shaped like a dotted path to a test module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and TEST_MODULE.match(node.value):
            found.append((node.lineno, node.value))
    return found


def own_module(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(TESTS)))
def test_no_test_module_imports_another(path: Path) -> None:
    own = own_module(path)
    wrong = [
        f"{path.name}:{line} uses {name}"
        for line, name in imported(path)
        if TEST_MODULE.match(name) and not (name == own or name.startswith(own + "."))
    ]
    assert not wrong, "move what is shared to tests/support/: " + "; ".join(wrong)


def test_the_rule_sees_what_it_forbids(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "from tests.conftest import new_request\n"
        "def test_x():\n"
        "    from tests.test_proxy import RouteRetriever\n"
        "    settings = {'RETRIEVER': 'tests.test_proxy.RouteRetriever'}\n"
    )
    names = [name for _, name in imported(sample) if TEST_MODULE.match(name)]
    # Written with slashes, so that this module does not break its own rule.
    expected = ["tests/conftest", "tests/test_proxy", "tests/test_proxy.RouteRetriever"]
    assert names == [name.replace("/", ".") for name in expected]
