"""The quickstart (``docs/quickstart.rst``) as a project: its blocks, read from the page, in a new ``startproject``.

The tests take the settings, the URLs, the page and the browser script from the
rst source, never from a copy of their own, so that what the docs say is what
runs. :func:`make_project` writes a ``django-admin startproject`` project and
applies them to it as the page tells a reader to.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs"
#: The pages (and the README) a reader copies code from.
READER_PAGES = [*sorted(DOCS.glob("*.rst")), ROOT / "README.md"]


def page(name: str) -> str:
    return (DOCS / f"{name}.rst").read_text(encoding="utf-8")


def code_blocks(text: str, language: str) -> list[str]:
    """The ``.. code-block:: language`` blocks of an rst text, dedented."""
    found = re.finditer(rf"^([ \t]*)\.\. code-block:: {re.escape(language)}\n\n((?:\1    .*\n|[ \t]*\n)+)", text, re.M)
    return [textwrap.dedent(b.group(2)).strip() + "\n" for b in found]


def block(page_name: str, language: str, first_line: str) -> str:
    """The one block of ``page_name`` in ``language`` whose first line is ``first_line``."""
    found = [b for b in code_blocks(page(page_name), language) if b.startswith(first_line)]
    assert len(found) == 1, f"{page_name}.rst needs one {language} block starting with {first_line!r}"
    return found[0]


#: The first line of each quickstart block a reader copies into a project.
SETTINGS = ("python", "# settings.py, at the end")
URLS = ("python", "# urls.py")
SCRIPT = ("javascript", "// static/bff.js")
PAGE = ("html+django", "{% load static %}")


def quickstart(which: tuple[str, str]) -> str:
    return block("quickstart", *which)


def browser_script_pages() -> dict[str, str]:
    """Every page with a copy of the browser script (a javascript block defining ``bff``): name to block."""
    found = {}
    for path in DOCS.glob("*.rst"):
        for b in code_blocks(path.read_text(encoding="utf-8"), "javascript"):
            if "function bff(" in b:
                found[path.stem] = b
    return found


def make_project(parent: Path, *, extra_settings: str = "") -> Path:
    """``django-admin startproject mysite`` in ``parent``, with the quickstart's settings, URLs, page and script.

    ``extra_settings`` is appended below the quickstart's settings, as the page's
    demo section says (the output of ``register_bff_client``). Returns the project
    directory (the one holding ``manage.py``).
    """
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(parent)],
        check=True,
        capture_output=True,
        text=True,
    )
    settings = parent / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n\n" + quickstart(SETTINGS) + "\n" + extra_settings)
    (parent / "mysite" / "urls.py").write_text(quickstart(URLS))
    (parent / "templates").mkdir()
    (parent / "templates" / "index.html").write_text(quickstart(PAGE))
    (parent / "static").mkdir()
    (parent / "static" / "bff.js").write_text(quickstart(SCRIPT))
    return parent
