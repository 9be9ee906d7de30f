"""No query string in urllib3's log lines (django_bff.logfilters, installed by the app's ready())."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from django_bff import proxy
from django_bff.logfilters import LOGGERS, QueryStringFilter, install
from tests.support.upstream import RawUpstream, Upstream
from tests.support.urlconf import use_current_routes

pytestmark = pytest.mark.django_db

SECRET = "api_key=s3cr3t-in-the-query"


@pytest.fixture
def routes(settings: Any) -> Iterator[tuple[Upstream, RawUpstream]]:
    with Upstream() as upstream, RawUpstream() as raw:
        settings.BFF = {
            **settings.BFF,
            "REMOTE_APIS": [
                {"PREFIX": "api/up/", "TARGET": upstream.url + "/v1/", "TOKEN_TYPE": "none", "ALLOW_INSECURE": True},
                {"PREFIX": "api/raw/", "TARGET": raw.url + "/v1/", "TOKEN_TYPE": "none", "ALLOW_INSECURE": True},
            ],
        }
        use_current_routes(settings)
        yield upstream, raw
        proxy.get_proxy_pool().clear()


def urllib3_lines(leak_guard: Any) -> list[str]:
    return [r.getMessage() for r in leak_guard.records if r.name.startswith("urllib3")]


def count_filters() -> list[int]:
    return [[type(f) for f in logging.getLogger(name).filters].count(QueryStringFilter) for name in LOGGERS]


def test_the_app_puts_the_filter_on_urllib3s_loggers_once() -> None:
    assert count_filters() == [1, 1]  # by DjangoBFFConfig.ready()
    install()
    assert count_filters() == [1, 1]


def test_urllib3s_request_line_keeps_the_path_and_loses_the_query(routes: Any, client: Client, leak_guard: Any) -> None:
    upstream, _ = routes
    response = client.get(f"/api/up/orders/42?{SECRET}", HTTP_X_CSRF="1")
    b"".join(response.streaming_content)
    assert upstream.last["query"] == SECRET  # the query did go upstream
    lines = urllib3_lines(leak_guard)
    assert any('"GET /v1/orders/42 HTTP/1.1" 200' in line for line in lines), lines
    assert not any("s3cr3t" in line for line in lines), lines


def test_urllib3s_header_parsing_warning_loses_the_query(routes: Any, client: Client, leak_guard: Any) -> None:
    _, raw = routes
    raw.answer("broken", b"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 2\r\n\r\n{}")
    response = client.get(f"/api/raw/broken?{SECRET}", HTTP_X_CSRF="1")
    assert response.status_code == 502
    lines = urllib3_lines(leak_guard)
    assert any("Failed to parse headers (url=http://127.0.0.1:" in line for line in lines), lines
    assert not any("s3cr3t" in line for line in lines), lines


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ("%s %s", ("http://h/p?q=1", "/p?q=2"), "http://h/p /p"),
        ("%s", ("a?b",), "a?b"),  # neither a path nor a URL: left alone
        ("%d %r", (3, {"x": "/p?q"}), "3 {'x': '/p?q'}"),
        ("GET /p?q=1 done", (), "GET /p done"),
        ("100%", None, "100%"),
    ],
)
def test_the_filter_strips_queries_from_paths_and_urls(msg: str, args: Any, expected: str) -> None:
    record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, msg, args, None)
    assert QueryStringFilter().filter(record) is True
    assert record.getMessage() == expected
