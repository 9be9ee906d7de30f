"""Sphinx configuration for the django_bff documentation.

Build with::

    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

autodoc imports the modules, so Django is set up with the test suite's settings
(``tests.settings``), which are a complete, working configuration. The build
needs no network.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import django_bff  # noqa: E402

project = "django-bff"
release = django_bff.__version__
version = release

extensions = ["sphinx.ext.autodoc"]

exclude_patterns = ["_build"]
root_doc = "index"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"

# Furo: one column of text 46em wide (its default: about 80 characters of prose, and 90 of
# code at its code font size), the page tree on the left, the page's sections on the right.
# tests/test_docs.py holds every code block to that column (CODE_COLUMN).
html_theme = "furo"
html_static_path = ["_static"]
html_css_files = ["bff.css"]
html_title = f"django-bff {release}"
html_theme_options = {"navigation_with_keys": True}
