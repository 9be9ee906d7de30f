"""The proxy's header policy, both ways, and what it does with headers it cannot pass on.

DESIGN: "Never forwarded upstream: Cookie, the browser's Authorization/DPoP,
hop-by-hop headers and those named in Connection, the anti-forgery header, and
every header an API could take for an identity or a routing decision made by a
trusted proxy [...]. Upstream Set-Cookie, Access-Control-*, Clear-Site-Data and
Strict-Transport-Security never reach the browser; a proxied answer without a
Content-Type goes out as application/octet-stream, always with
X-Content-Type-Options: nosniff."

Sections:

1. the lists: docs/security.rst shows them exactly as ``django_bff.proxy`` has them;
2. towards the API: every dropped name is dropped by default, and forwarded
   when the route opts in (``FORWARD_HEADERS`` / ``forward_headers``) where an
   opt-in is allowed; the opt-in is refused (remote_api, check E038) elsewhere;
3. back to the browser: every dropped name is dropped, Content-Type and nosniff;
4. upstream headers that cannot be passed on (an invalid name, control
   characters in a value) and answers whose headers cannot be read: 502,
   the header named in the log, never its value.
   (The same through real gunicorn and uvicorn: tests/proxy/test_faults.py.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.core.checks import Error
from django.test import Client, RequestFactory

from django_bff import proxy
from django_bff.checks import check_settings
from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.proxy import (
    HOP_BY_HOP,
    IDENTITY_HEADER_PREFIXES,
    IDENTITY_HEADERS,
    NEVER_FORWARDED,
    NEVER_RETURNED,
    NEVER_RETURNED_PREFIXES,
    SET_BY_BFF,
    RemoteAPIView,
    remote_api,
)
from tests.support.upstream import RawUpstream, Upstream
from tests.support.urlconf import use_current_routes

pytestmark = pytest.mark.django_db

SECURITY_PAGE = Path(__file__).resolve().parents[2] / "docs" / "security.rst"
MARK = "from-the-browser"

#: The names the issue lists, spelt as clients send them: pinned apart from the code's lists.
NAMED_IN_THE_ISSUE = [
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Groups",
    "X-Forwarded-Access-Token",
    "X-Forwarded-Prefix",
    "X-Forwarded-Port",
    "X-Forwarded-Server",
    "X-Original-URL",
    "X-Rewrite-URL",
    "X-HTTP-Method-Override",
    "Remote-User",
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Access-Token",
    "True-Client-IP",
    "CF-Connecting-IP",
    "Via",
    "X-Real-IP",
    "Forwarded",
    "X-Original-Forwarded-For",
    "X-Client-IP",
    "X-Cluster-Client-IP",
    "Fastly-Client-IP",
    "X-ProxyUser-Ip",
    "Client-IP",
]
#: Every identity name of the code, and one name under each of its prefixes.
IDENTITY_SAMPLES = sorted(
    set(NAMED_IN_THE_ISSUE)
    | IDENTITY_HEADERS
    | {prefix + ("-id" if not prefix.endswith("-") else "sample") for prefix in IDENTITY_HEADER_PREFIXES}
)
SET_BY_THE_BFF = sorted(SET_BY_BFF)
#: Request headers no route may opt in to (the anti-forgery header and those the BFF sets included).
NEVER_OPTED_IN = sorted(HOP_BY_HOP | NEVER_FORWARDED | SET_BY_BFF | {"x-csrf"})


def meta_key(name: str) -> str:
    return "HTTP_" + name.upper().replace("-", "_")


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def routes(settings: Any, upstream: Upstream) -> Any:
    """``set_routes(**entry)``: one route ``api/h/`` -> ``<upstream>/v1/``, token type NONE, plus ``entry``."""
    upstream.clear()

    def set_routes(**entry: Any) -> None:
        settings.BFF = {
            **settings.BFF,
            "REMOTE_APIS": [
                {"PREFIX": "api/h/", "TARGET": upstream.url + "/v1/", "TOKEN_TYPE": "none", "ALLOW_INSECURE": True}
                | entry
            ],
        }
        use_current_routes(settings)

    set_routes()
    yield set_routes
    proxy.get_proxy_pool().clear()


def call(client: Client, path: str = "/api/h/echo", **extra: Any) -> Any:
    response = client.get(path, HTTP_X_CSRF="1", **extra)
    response.body_bytes = b"".join(response.streaming_content) if response.streaming else response.content
    return response


# --- 1. the lists, in the docs as in the code -------------------------------------------------


def documented_lists() -> dict[str, set[str]]:
    """The ``.. header-list:: NAME`` blocks of docs/security.rst: NAME -> the ``names`` listed."""
    text = SECURITY_PAGE.read_text(encoding="utf-8")
    lists: dict[str, set[str]] = {}
    for match in re.finditer(r"^\.\. _header-list-([A-Z_]+):\n\n(.*?)(?=\n\n\S|\Z)", text, re.M | re.S):
        block = match.group(2)
        lists[match.group(1)] = set(re.findall(r"``([^`]+)``", block.split("\n", 1)[1]))
    return lists


def as_documented(names: Any) -> set[str]:
    """A frozenset of names, or a tuple of prefixes (written ``prefix*`` in the docs)."""
    return {f"{n}*" for n in names} if isinstance(names, tuple) else set(names)


@pytest.mark.parametrize(
    "name",
    [
        "HOP_BY_HOP",
        "NEVER_FORWARDED",
        "SET_BY_BFF",
        "IDENTITY_HEADERS",
        "IDENTITY_HEADER_PREFIXES",
        "NEVER_RETURNED",
        "NEVER_RETURNED_PREFIXES",
    ],
)
def test_the_security_page_lists_the_headers_as_the_code_has_them(name: str) -> None:
    documented = documented_lists()
    assert name in documented, f"docs/security.rst has no '.. _header-list-{name}:' block"
    assert documented[name] == as_documented(getattr(proxy, name))


def test_the_lists_are_lower_case_and_apart() -> None:
    for names in (HOP_BY_HOP, NEVER_FORWARDED, SET_BY_BFF, IDENTITY_HEADERS, NEVER_RETURNED):
        assert all(n == n.lower() for n in names)
    assert all(p == p.lower() for p in IDENTITY_HEADER_PREFIXES + NEVER_RETURNED_PREFIXES)
    assert not (IDENTITY_HEADERS & (HOP_BY_HOP | NEVER_FORWARDED | SET_BY_BFF))
    assert all(name.startswith(IDENTITY_HEADER_PREFIXES) for name in SET_BY_BFF)


# --- 2. towards the API ----------------------------------------------------------------------


@pytest.mark.parametrize("name", IDENTITY_SAMPLES)
def test_identity_headers_are_dropped_unless_the_route_opts_in(
    routes: Any, client: Client, upstream: Upstream, name: str
) -> None:
    assert call(client, **{meta_key(name): MARK}).status_code == 200
    assert name.lower() not in upstream.last["headers"]

    routes(FORWARD_HEADERS=[name])
    assert call(client, **{meta_key(name): MARK}).status_code == 200
    assert upstream.last["headers"][name.lower()] == MARK


def test_opting_in_one_header_forwards_that_one_only(routes: Any, client: Client, upstream: Upstream) -> None:
    routes(FORWARD_HEADERS=["x-original-url"])
    call(client, HTTP_X_ORIGINAL_URL="/orig", HTTP_X_REWRITE_URL="/rewritten", HTTP_X_FORWARDED_USER="mallory")
    seen = upstream.last["headers"]
    assert seen["x-original-url"] == "/orig"
    assert "x-rewrite-url" not in seen and "x-forwarded-user" not in seen


@pytest.mark.parametrize("name", SET_BY_THE_BFF)
def test_the_forwarded_headers_the_bff_sets_are_replaced_never_copied(
    routes: Any, client: Client, upstream: Upstream, name: str
) -> None:
    call(client, REMOTE_ADDR="10.1.2.3", **{meta_key(name): MARK})
    assert upstream.last["headers"][name] != MARK
    assert upstream.last["headers"]["x-forwarded-for"] == "10.1.2.3"


@pytest.mark.parametrize("name", sorted(HOP_BY_HOP | NEVER_FORWARDED - {"host", "content-length"}))
def test_headers_that_are_never_forwarded_are_dropped(
    routes: Any, client: Client, upstream: Upstream, name: str
) -> None:
    assert call(client, **{meta_key(name): MARK}).status_code == 200
    assert MARK not in str(upstream.last["header_list"]), name


def test_host_and_content_length_are_the_bffs(routes: Any, client: Client, upstream: Upstream) -> None:
    response = client.post("/api/h/echo", b"abc", content_type="text/plain", HTTP_X_CSRF="1", HTTP_HOST="127.0.0.1")
    b"".join(response.streaming_content)
    seen = upstream.last["headers"]
    assert seen["host"] == urlsplit(upstream.url).netloc and seen["content-length"] == "3"


def test_a_header_the_request_connection_names_is_dropped_even_when_opted_in(
    routes: Any, client: Client, upstream: Upstream
) -> None:
    routes(FORWARD_HEADERS=["X-Original-URL"])
    call(client, HTTP_CONNECTION="X-Original-URL", HTTP_X_ORIGINAL_URL=MARK)
    assert "x-original-url" not in upstream.last["headers"]


@pytest.mark.parametrize("name", NEVER_OPTED_IN)
def test_the_opt_in_refuses_what_is_never_forwarded(name: str) -> None:
    with pytest.raises(BFFImproperlyConfigured, match="never forwarded|set by the BFF"):
        remote_api("api/x/", "https://api.example.com/", forward_headers=[name])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("X-Original-URL", "must be a list"),
        ({"X-Original-URL": True}, "must be a list"),
        (["X Original"], "not a header name"),
        ([b"X-Original-URL"], "not a header name"),
        (["X-Custom"], "not an identity or routing header"),
        (["X-Orignal-URL"], "not an identity or routing header"),
        (["Strict-Transport-Security"], "response headers cannot be opted in"),
    ],
)
def test_the_opt_in_refuses_other_values(value: Any, message: str) -> None:
    with pytest.raises(BFFImproperlyConfigured, match=message):
        remote_api("api/x/", "https://api.example.com/", forward_headers=value)


def test_the_opt_in_refuses_the_configured_antiforgery_header(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "ANTIFORGERY_HEADER": "X-Auth-Request-Csrf"}
    with pytest.raises(BFFImproperlyConfigured, match="never forwarded"):
        remote_api("api/x/", "https://api.example.com/", forward_headers=["x-auth-request-csrf"])


def test_remote_api_in_urls_py_opts_in_too(upstream: Upstream) -> None:
    upstream.clear()
    view = RemoteAPIView.as_view(
        upstream=upstream.url + "/v1/", token_type="none", allow_insecure=True, forward_headers=("X-Original-URL",)
    )
    request = RequestFactory().get("/api/x/echo", HTTP_X_CSRF="1", HTTP_X_ORIGINAL_URL="/o", HTTP_X_REAL_IP="6.6.6.6")
    response = view(request, path="echo")
    response.close()
    assert response.status_code == 200
    assert upstream.last["headers"]["x-original-url"] == "/o" and "x-real-ip" not in upstream.last["headers"]

    class Subclass(RemoteAPIView):
        forward_headers = frozenset({"cookie"})

    with pytest.raises(BFFImproperlyConfigured, match="never forwarded"):
        Subclass.as_view(upstream="https://api.example.com/")


def e038(settings: Any, forward: Any) -> list[Error]:
    route = {"PREFIX": "api/x/", "TARGET": "https://api.example.com/", "FORWARD_HEADERS": forward}
    settings.BFF = {**settings.BFF, "REMOTE_APIS": [route]}
    return [m for m in check_settings() if m.id == "django_bff.E038"]


@pytest.mark.parametrize(
    "forward",
    ["X-Original-URL", ["Cookie"], ["X-CSRF"], ["Authorization"], ["X-Forwarded-For"], ["X-Custom"], ["a b"]],
)
def test_E038_forward_headers_refused(settings: Any, forward: Any) -> None:
    messages = e038(settings, forward)
    assert len(messages) == 1 and 'BFF["REMOTE_APIS"][0]' in messages[0].msg
    assert len(messages[0].msg) < 80 and messages[0].hint


def test_E038_forward_headers_allowed(settings: Any) -> None:
    assert e038(settings, ["X-Original-URL", "x-forwarded-user", "Via"]) == []
    assert e038(settings, []) == []


# --- 3. back to the browser ---------------------------------------------------------------------


def returned(client: Client, headers: dict[str, str]) -> Any:
    return call(client, "/api/h/headers?" + urlencode(headers))


RESPONSE_DROPPED = sorted(
    (NEVER_RETURNED - {"content-length", "date", "server"})
    | (HOP_BY_HOP - {"connection", "transfer-encoding"})
    | {
        prefix + suffix
        for prefix in NEVER_RETURNED_PREFIXES
        for suffix in ("allow-origin", "allow-credentials", "allow-headers", "expose-headers", "max-age")
    }
)


@pytest.mark.parametrize("name", RESPONSE_DROPPED)
def test_response_headers_that_act_on_the_bffs_origin_never_reach_the_browser(
    routes: Any, client: Client, settings: Any, name: str
) -> None:
    settings.SECURE_CONTENT_TYPE_NOSNIFF = False  # the proxy's own nosniff, not SecurityMiddleware's
    response = returned(client, {name: MARK, "Content-Type": "application/json"})
    assert response.status_code == 200 and response.body_bytes == b"ok"
    assert MARK not in str(response.items()), name
    # ... and no route can opt in to them (response headers are not forwarded on request).
    with pytest.raises(BFFImproperlyConfigured):
        remote_api("api/x/", "https://api.example.com/", forward_headers=[name])


def test_other_response_headers_pass(routes: Any, client: Client) -> None:
    response = returned(
        client,
        {"Content-Type": "application/json", "X-Accel-Buffering": "no", "Cache-Control": "no-cache", "ETag": '"1"'},
    )
    assert response["X-Accel-Buffering"] == "no" and response["Cache-Control"] == "no-cache"
    assert response["ETag"] == '"1"' and response["Content-Length"] == "2"


def test_an_answer_without_content_type_is_octet_stream_with_nosniff(
    routes: Any, client: Client, settings: Any
) -> None:
    settings.SECURE_CONTENT_TYPE_NOSNIFF = False
    untyped = returned(client, {"X-Other": "1"})
    assert untyped["Content-Type"] == "application/octet-stream"
    assert untyped["X-Content-Type-Options"] == "nosniff"
    blank = returned(client, {"Content-Type": " "})
    assert blank["Content-Type"] == "application/octet-stream"
    typed = returned(client, {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "sniff-away"})
    assert typed["Content-Type"] == "text/plain; charset=utf-8"
    assert typed["X-Content-Type-Options"] == "nosniff"
    json_answer = call(client)
    assert json_answer["Content-Type"] == "application/json" and json_answer["X-Content-Type-Options"] == "nosniff"


@pytest.fixture
def raw(settings: Any) -> Iterator[RawUpstream]:
    """A raw-socket upstream behind ``api/raw/``."""
    with RawUpstream() as server:
        settings.BFF = {
            **settings.BFF,
            "REMOTE_APIS": [
                {"PREFIX": "api/raw/", "TARGET": server.url + "/v1/", "TOKEN_TYPE": "none", "ALLOW_INSECURE": True}
            ],
        }
        use_current_routes(settings)
        yield server
        proxy.get_proxy_pool().clear()


def test_answers_without_a_body_get_no_content_type(raw: RawUpstream, client: Client) -> None:
    raw.answer("not-modified", b'HTTP/1.1 304 Not Modified\r\nETag: "1"\r\n\r\n')
    raw.answer("no-content", b"HTTP/1.1 204 No Content\r\n\r\n")
    for name, status in (("not-modified", 304), ("no-content", 204)):
        response = call(client, f"/api/raw/{name}")
        assert response.status_code == status and not response.has_header("Content-Type"), name
        assert response["X-Content-Type-Options"] == "nosniff"


# --- 4. upstream headers that cannot be passed on ---------------------------------------------

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize(
    ("line", "logged"),
    [
        (b"X-Bad: secret\x00value", "'X-Bad'"),
        (b"X-Bad: secret\x1bvalue", "'X-Bad'"),
        (b"X-Bad: secret\x07", "'X-Bad'"),
        (b"X-Bad: secret\x7fvalue", "'X-Bad'"),
        (b"X(Bad): secretvalue", "'X(Bad)'"),
        (b"X@Bad: secretvalue", "'X@Bad'"),
        (b'X"Bad: secretvalue', "'X\"Bad'"),
    ],
)
def test_an_answer_with_a_header_that_cannot_be_passed_on_is_502_logged_by_name(
    raw: RawUpstream, client: Client, leak_guard: Any, line: bytes, logged: str
) -> None:
    raw.answer("bad", OK_HEAD + line + b"\r\nX-Good: yes\r\nX-Tab: a\tb\r\nContent-Length: 2\r\n\r\n{}")
    response = call(client, "/api/raw/bad")
    assert response.status_code == 502 and response.json() == {"error": "upstream_invalid_response"}
    assert "secret" not in str(response.items())
    messages = [r.getMessage() for r in leak_guard.records if r.name == "django_bff.proxy"]
    refused = [m for m in messages if "answered" in m]
    assert len(refused) == 1 and logged in refused[0], messages
    assert not any("secret" in r.getMessage() for r in leak_guard.records)
    assert raw.closed("bad").wait(10)  # never reused


def test_a_tab_in_a_value_is_passed_on(raw: RawUpstream, client: Client) -> None:
    raw.answer("tab", OK_HEAD + b"X-Tab: a\tb\r\nContent-Length: 2\r\n\r\n{}")
    response = call(client, "/api/raw/tab")
    assert response.status_code == 200 and response["X-Tab"] == "a\tb" and response.body_bytes == b"{}"


def test_a_status_line_with_control_characters_keeps_the_standard_reason(raw: RawUpstream, client: Client) -> None:
    raw.answer("reason", b"HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\n{}")
    response = call(client, "/api/raw/reason")
    assert response.status_code == 200 and response.reason_phrase == "OK"


@pytest.mark.parametrize(
    "head",
    [
        OK_HEAD + b"no colon here\r\nContent-Length: 2\r\n",
        OK_HEAD + b"X Bad: 1\r\nContent-Length: 2\r\n",
        OK_HEAD + b"X-Bad: a\rb\r\nContent-Length: 2\r\n",
        OK_HEAD + b"Content-Length: 2x\r\n",
        OK_HEAD + b"Content-Length: -2\r\n",
        OK_HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n",
        OK_HEAD + b"Content-Length: 2, 3\r\n",
    ],
)
def test_an_answer_whose_headers_cannot_be_read_is_502(
    raw: RawUpstream, client: Client, leak_guard: Any, head: bytes
) -> None:
    raw.answer("unreadable", head + b"\r\n{}")
    response = call(client, "/api/raw/unreadable")
    assert response.status_code == 502 and response.json() == {"error": "upstream_invalid_response"}
    assert response["Cache-Control"] == "no-store"
    assert any("answered" in r.getMessage() for r in leak_guard.records if r.name == "django_bff.proxy")
    # The connection is closed, never reused: the upstream sees it go.
    assert raw.closed("unreadable").wait(10)


def test_repeated_equal_content_lengths_are_one(raw: RawUpstream, client: Client) -> None:
    raw.answer("twice", OK_HEAD + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}")
    response = call(client, "/api/raw/twice")
    assert response.status_code == 200 and response.body_bytes == b"{}" and response["Content-Length"] == "2"


def test_folded_header_lines_are_joined(raw: RawUpstream, client: Client) -> None:
    raw.answer("folded", OK_HEAD + b"X-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\n{}")
    response = call(client, "/api/raw/folded")
    assert response.status_code == 200 and response["X-Folded"] == "a b"


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ([("X-A", "1"), ("X-B", "2")], None),
        ([("X-A", "1"), ("", "2")], "a header with an invalid name: ''"),
        ([("X-A", "1"), ("X(B)", "2")], "a header with an invalid name: 'X(B)'"),
        ([("X-A", "1"), ("X-B", "ok"), ("X-B", "bad\x00")], "the header 'X-B' with control characters in its value"),
        ([], None),
    ],
)
def test_the_header_rule_names_the_culprit(headers: list[tuple[str, str]], problem: str | None) -> None:
    """Every name and value are checked at once; the one that fails is named (never its value)."""
    from types import SimpleNamespace

    import urllib3

    from django_bff.proxy.transport import _unreadable

    assert _unreadable(SimpleNamespace(status=200, reason="OK", headers=urllib3.HTTPHeaderDict(headers))) == problem
