"""What the wheel must hold, checked without building it.

``scripts/check_package.py`` builds the sdist and the wheel, installs the wheel
in a fresh virtualenv and smoke-tests it there (``bash scripts/test`` runs it
after pytest). These tests run its rules on the source tree and on made-up
file lists, so a data file that setup.cfg would leave out of the wheel (a
template, a static file) fails here already.
"""

from __future__ import annotations

import runpy
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@cache
def script() -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "scripts" / "check_package.py"), run_name="bff_check_package")


def test_the_package_is_every_file_of_the_source_tree_but_bytecode() -> None:
    files = script()["package_files"]()
    on_disk = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "django_bff").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert on_disk <= files
    assert {"django_bff/py.typed", "django_bff/migrations/0001_initial.py"} <= files
    assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]


def test_setup_cfg_ships_every_file_that_is_not_python() -> None:
    files = script()["package_files"]()
    assert script()["undeclared_data"](files, script()["package_data_patterns"]()) == []


def test_the_rule_sees_a_data_file_setup_cfg_leaves_out() -> None:
    files = {"django_bff/py.typed", "django_bff/views.py", "django_bff/templates/django_bff/page.html"}
    undeclared = script()["undeclared_data"]
    assert undeclared(files, ["django_bff/py.typed"]) == ["django_bff/templates/django_bff/page.html"]
    assert undeclared(files, ["django_bff/py.typed", "django_bff/templates/*/*.html"]) == []


def test_the_modules_are_named_from_their_files() -> None:
    files = {
        "django_bff/__init__.py",
        "django_bff/stores/__init__.py",
        "django_bff/stores/cache.py",
        "django_bff/py.typed",
    }
    assert script()["modules"](files) == ["django_bff", "django_bff.stores", "django_bff.stores.cache"]


def test_a_wheel_missing_a_file_or_shipping_another_is_refused() -> None:
    problems = script()["wheel_problems"]
    expected = {"django_bff/__init__.py", "django_bff/py.typed"}
    metadata = "django_bff-1.0.dist-info/METADATA"
    assert problems(["django_bff/__init__.py", "django_bff/py.typed", metadata], expected) == []
    assert problems(["django_bff/__init__.py", "benchmarks/run.py", metadata], expected) == [
        "the wheel lacks django_bff/py.typed",
        "the wheel ships benchmarks/run.py, which the source tree does not have",
    ]


def test_an_sdist_with_the_tests_is_refused() -> None:
    problems = script()["sdist_problems"]
    expected = {"django_bff/__init__.py"}
    base = ["LICENSE", "MANIFEST.in", "PKG-INFO", "README.md", "pyproject.toml", "setup.cfg", "django_bff/__init__.py"]
    assert problems([f"django_bff-1.0/{name}" for name in base], expected) == []
    assert problems([f"django_bff-1.0/{name}" for name in [*base, "tests/test_views.py"]], expected) == [
        "the sdist ships tests/test_views.py"
    ]


def test_the_source_version_is_read_without_importing_the_package() -> None:
    import django_bff

    assert script()["source_version"]() == django_bff.__version__
