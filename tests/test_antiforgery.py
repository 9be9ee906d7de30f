"""The anti-forgery checks live apart from the proxy.

``@bff_api`` and the DRF permission check the header without the proxy: importing
them loads neither ``django_bff.proxy`` nor an HTTP client (urllib3). Each import
is made in a fresh interpreter, after ``django.setup()`` with the test settings
and without loading the URLconf (``django_bff.urls`` imports the proxy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from django_bff import antiforgery, proxy

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("django_bff.proxy", "urllib3")


def loaded_after(module: str) -> dict[str, bool]:
    """Which of :data:`HEAVY` are loaded once ``module`` is imported, in a fresh interpreter."""
    code = (
        "import json, sys, django\n"
        "django.setup()\n"
        f"before = {{name: name in sys.modules for name in {HEAVY!r}}}\n"
        f"import {module}\n"
        f"print(json.dumps({{'before': before, 'after': {{name: name in sys.modules for name in {HEAVY!r}}}}}))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == dict.fromkeys(HEAVY, False), "django.setup() alone loads them: nothing to prove"
    after: dict[str, bool] = seen["after"]
    return after


@pytest.mark.parametrize("module", ["django_bff.decorators", "django_bff.drf", "django_bff.antiforgery"])
def test_checking_the_header_loads_neither_the_proxy_nor_urllib3(module: str) -> None:
    assert loaded_after(module) == dict.fromkeys(HEAVY, False)


def test_the_proxy_still_exports_the_checks() -> None:
    assert proxy.check_antiforgery is antiforgery.check_antiforgery
    assert proxy.check_csrf_header is antiforgery.check_csrf_header
