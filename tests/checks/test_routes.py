"""System checks of the proxy's routes: ``BFF["REMOTE_APIS"]`` and ``BFF["ACCESS_TOKEN_RETRIEVERS"]``."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

GOOD_ROUTE = {"PREFIX": "api/x/", "TARGET": "https://api.example.com/"}


def test_E018_routes_not_a_list(bff: Any) -> None:
    assert "django_bff.E018" in bff(REMOTE_APIS="api/x/")


@pytest.mark.parametrize("routes", [["api/x/"], [{"PREFIX": "api/x/"}], [{**GOOD_ROUTE, "COLOUR": "red"}]])
def test_E041_malformed_route(bff: Any, routes: Any) -> None:
    assert "django_bff.E041" in bff(REMOTE_APIS=routes)


@pytest.mark.parametrize("prefix", ["/api/x/", 5])
def test_E042_prefix_not_relative(bff: Any, prefix: Any) -> None:
    assert "django_bff.E042" in bff(REMOTE_APIS=[{**GOOD_ROUTE, "PREFIX": prefix}])


def test_E043_prefix_used_twice(bff: Any) -> None:
    assert "django_bff.E043" in bff(REMOTE_APIS=[GOOD_ROUTE, {**GOOD_ROUTE, "PREFIX": "api/x"}])


def test_E044_unknown_token_type(bff: Any) -> None:
    assert "django_bff.E044" in bff(REMOTE_APIS=[{**GOOD_ROUTE, "TOKEN_TYPE": "admin"}])


@pytest.mark.parametrize(
    "flag",
    [{"OPTIONAL": "no"}, {"ANTIFORGERY": 0}, {"REQUIRE_AUTHENTICATION": "yes"}, {"ALLOW_INSECURE": "no"}],
)
def test_E045_flag_not_a_boolean(bff: Any, flag: dict[str, Any]) -> None:
    assert "django_bff.E045" in bff(REMOTE_APIS=[{**GOOD_ROUTE, **flag}])


def test_every_bad_route_is_reported_at_once_by_id_never_raised(settings: Any) -> None:
    """One ``manage.py check`` names every bad entry; the URLconf leaves them out instead of raising."""
    from django.core.management.base import SystemCheckError

    from tests.support.urlconf import fresh_urlconf

    settings.BFF = {
        **settings.BFF,
        "REMOTE_APIS": [
            {**GOOD_ROUTE, "TOKEN_TYPE": "users"},
            {**GOOD_ROUTE, "PREFIX": "/api/y/"},
            {**GOOD_ROUTE, "PREFIX": "api/z/", "TARGET": "ftp://api.example.com/"},
            {**GOOD_ROUTE, "PREFIX": "api/ok/"},
        ],
    }
    settings.ROOT_URLCONF = fresh_urlconf()  # imported without a traceback: the good route is there
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    report = str(raised.value)
    for check_id, index in (("E044", 0), ("E042", 1), ("E019", 2)):
        assert f'BFF["REMOTE_APIS"][{index}]' in report and f"django_bff.{check_id}" in report
    assert "Traceback" not in report
    from django.urls import resolve

    assert resolve("/api/ok/x").url_name is None and resolve("/api/ok/x").kwargs == {"path": "x"}


@pytest.mark.parametrize(
    "target",
    ["http://api.example.com/", "/relative/", "https://u:p@api.example.com/", "https://api.example.com/?q=1", 5],
)
def test_E019_bad_targets(bff: Any, target: Any) -> None:
    assert "django_bff.E019" in bff(REMOTE_APIS=[{**GOOD_ROUTE, "TARGET": target}])


def test_E019_http_allowed_by_opt_in_or_debug(bff: Any, settings: Any) -> None:
    plain = {**GOOD_ROUTE, "TARGET": "http://api.internal/"}
    assert "django_bff.E019" not in bff(REMOTE_APIS=[{**plain, "ALLOW_INSECURE": True}])
    assert "django_bff.E019" not in bff(REMOTE_APIS=[plain], ALLOW_INSECURE_UPSTREAMS=True)
    settings.DEBUG = True
    assert "django_bff.E019" not in bff(REMOTE_APIS=[plain], ALLOW_INSECURE_UPSTREAMS=False)


def test_good_routes_pass(bff: Any) -> None:
    assert bff(
        REMOTE_APIS=[
            {**GOOD_ROUTE, "TOKEN_TYPE": "client", "RETRIEVER": "django_bff.retrievers.DefaultAccessTokenRetriever"}
        ],
        ACCESS_TOKEN_RETRIEVERS=[
            {"PATTERN": "^/api/", "RETRIEVER": "django_bff.retrievers.DefaultAccessTokenRetriever"}
        ],
    ) == ["django_bff.W005", "django_bff.W010"]


def test_E020_retrievers_not_a_list(bff: Any) -> None:
    assert "django_bff.E020" in bff(ACCESS_TOKEN_RETRIEVERS="x")


@pytest.mark.parametrize("entries", [["^/api/"], [{"PATTERN": "^/api/"}]])
def test_E046_malformed_retriever_pattern(bff: Any, entries: Any) -> None:
    assert "django_bff.E046" in bff(ACCESS_TOKEN_RETRIEVERS=entries)


def test_E047_pattern_not_a_regex(bff: Any) -> None:
    entry = {"PATTERN": "([", "RETRIEVER": "django_bff.retrievers.DefaultAccessTokenRetriever"}
    assert "django_bff.E047" in bff(ACCESS_TOKEN_RETRIEVERS=[entry])


@pytest.mark.parametrize("retriever", ["no.such.Retriever", "django_bff.tokens.UserToken"])
def test_E048_pattern_retriever_not_usable(bff: Any, retriever: str) -> None:
    assert "django_bff.E048" in bff(ACCESS_TOKEN_RETRIEVERS=[{"PATTERN": "^/api/", "RETRIEVER": retriever}])


def test_E021_bad_route_retriever(bff: Any) -> None:
    assert "django_bff.E021" in bff(REMOTE_APIS=[{**GOOD_ROUTE, "RETRIEVER": "no.such.Retriever"}])


def test_E022_unknown_client(bff: Any) -> None:
    assert "django_bff.E022" in bff(REMOTE_APIS=[{**GOOD_ROUTE, "TOKEN_TYPE": "client", "CLIENT": "billing"}])


def test_manage_py_check_reports_bad_routes_by_id_without_a_traceback(tmp_path: Any) -> None:
    """What a user runs: ``manage.py check`` in a process of its own, the URLconf imported as Django does."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "bad_routes_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        "BFF = {**BFF, 'REMOTE_APIS': [\n"  # noqa: F405 (in the written module)
        "    {'PREFIX': 'api/x/', 'TARGET': 'https://api.example.com/', 'TOKEN_TYPE': 'users'},\n"
        "    {'PREFIX': '/api/y/', 'TARGET': 'https://api.example.com/'},\n"
        "]}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--settings=bad_routes_settings"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tmp_path}:{root}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "django_bff.E044" in output and "django_bff.E042" in output, output
    assert "Traceback" not in output and "ValueError" not in output, output
