"""The proxy's path rule, attacked: nothing may leave the target's path.

DESIGN: "path that decodes to ``..``, ``//``, ``\\``, control chars, or leaves the
target's path -> 400, nothing sent upstream". The implementation
(:func:`django_bff.proxy.build_upstream_url`) decodes the path after the route
prefix once and refuses:

* a ``.`` or ``..`` segment, also before a ``;`` (``..;/``), also after Unicode
  NFKC normalisation (fullwidth dots, dot leaders), also all-dots (``...``);
* an empty segment (``//``, a leading ``/`` after the prefix);
* a backslash, a control character (0x00-0x1f, 0x7f);
* a ``%`` left after decoding (double encoding);
* ``%2F`` / ``%5C`` in the raw path, when the server gives it (gunicorn's
  ``RAW_URI``, uvicorn's ``raw_path``; the test client simulates it with
  ``RAW_URI=...`` in the environ);
* control characters in the decoded query.

Legitimate paths are re-encoded segment by segment and must arrive intact.

Sections:

1. fixtures: one recording upstream per module, a route ``api/things/`` to
   ``<upstream>/v1/base/`` with token type NONE (no login needed);
2. an attack battery through Django's test client, each case naming its
   expected outcome;
3. legitimate paths and queries through the test client, checked byte for byte;
4. (in ``test_paths_served.py``) a smaller battery through real servers
   (gunicorn, uvicorn), sent as raw request lines;
5. :func:`build_upstream_url` called directly.

Outcomes used in the parameter lists:

* ``REFUSED``: 400 ``{"error": "invalid_path"}`` from the proxy, nothing upstream;
* ``FORWARDED``: 200 and the upstream received exactly one request, at the
  given path (always below the target's path, never with a dot segment);
* ``NOT_ROUTED``: 404 from Django's URL resolver, nothing upstream (see the
  newline cases: the route regex's ``.`` does not match ``\\n``);
* ``SERVER_REJECTED``: the HTTP server refused the request line itself (not
  2xx, not the proxy's JSON error), nothing upstream. Real servers only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from django.test import Client

from django_bff.exceptions import InvalidProxyPath
from django_bff.proxy import build_upstream_url
from tests.support.proxy_paths import FORWARDED, REFUSED, assert_outcome
from tests.support.upstream import Upstream
from tests.support.urlconf import use_current_routes

#: The route of the test-client sections, and where it points on the upstream.
PREFIX = "/api/things/"
TARGET_PATH = "/v1/base/"


# --- 1. fixtures ---------------------------------------------------------------------------


@pytest.fixture
def things_api(settings: Any, upstream: Upstream) -> Iterator[Upstream]:
    """``api/things/`` -> ``<upstream>/v1/base/``, token type NONE; the upstream's log emptied."""
    settings.BFF = {
        **settings.BFF,
        "REMOTE_APIS": [
            {
                "PREFIX": "api/things/",
                "TARGET": upstream.url + "/v1/base/",
                "TOKEN_TYPE": "none",
                "ALLOW_INSECURE": True,
            }
        ],
    }
    use_current_routes(settings)
    upstream.clear()
    yield upstream
    # The proxy's pooled session is dropped (not closed) when BFF changes back;
    # close its keep-alive connections here so no socket is left to the GC.
    from django_bff.proxy import get_proxy_pool

    get_proxy_pool().clear()


def _send(client: Client, method: str, rest: str, *, raw_uri: bool = True) -> tuple[int, bytes]:
    """``method`` on ``/api/things/<rest>``; ``rest`` may carry a ``?query``.

    The test client percent-decodes the path once, as a WSGI server does. With
    ``raw_uri`` the undecoded request target is passed as ``RAW_URI``, as gunicorn does.
    """
    full = PREFIX + rest
    extra: dict[str, Any] = {"HTTP_X_CSRF": "1"}
    if raw_uri:
        extra["RAW_URI"] = full
    response: Any = client.generic(method, full, **extra)
    try:
        body = b"".join(response.streaming_content) if response.streaming else response.content
    finally:
        response.close()
    return response.status_code, body


# --- 2. attack battery through the test client ---------------------------------------------

#: (method, the path after "api/things/" as sent, expected outcome, upstream path when forwarded)
ATTACKS = [
    # Dot segments, plain and percent-encoded in every case mix.
    pytest.param("GET", "..", REFUSED, None, id="dotdot"),
    pytest.param("GET", "../etc/passwd", REFUSED, None, id="dotdot-etc-passwd"),
    pytest.param("GET", "%2e%2e", REFUSED, None, id="pct-2e2e"),
    pytest.param("POST", "%2E%2e", REFUSED, None, id="pct-2E2e-mixed-case"),
    pytest.param("GET", ".%2e", REFUSED, None, id="dot-pct2e"),
    pytest.param("GET", "%2e.", REFUSED, None, id="pct2e-dot"),
    pytest.param("GET", "%2e", REFUSED, None, id="pct-single-dot"),
    pytest.param("GET", ".", REFUSED, None, id="single-dot"),
    pytest.param("GET", "..%2f", REFUSED, None, id="dotdot-pct2f"),
    pytest.param("DELETE", "%2e%2e%2f", REFUSED, None, id="pct-2e2e2f"),
    pytest.param("GET", "%2E%2E%2Fetc", REFUSED, None, id="pct-2E2E2F-upper"),
    pytest.param("GET", "%2e%2e/%2e%2e/etc/passwd", REFUSED, None, id="pct-dotdot-twice"),
    pytest.param("GET", "a/./b", REFUSED, None, id="dot-in-middle"),
    pytest.param("PUT", "a/../b", REFUSED, None, id="dotdot-in-middle"),
    pytest.param("GET", "a/b/..", REFUSED, None, id="trailing-dotdot"),
    pytest.param("GET", "a/b/../", REFUSED, None, id="trailing-dotdot-slash"),
    pytest.param("GET", "...", REFUSED, None, id="three-dots"),
    pytest.param("GET", "....//", REFUSED, None, id="four-dots-double-slash"),
    # Path parameters: Tomcat and others read "..;x" as "..".
    pytest.param("GET", "..;/", REFUSED, None, id="dotdot-semicolon"),
    pytest.param("GET", "..;jsessionid=x", REFUSED, None, id="dotdot-jsessionid"),
    pytest.param("GET", "..;/..;/admin", REFUSED, None, id="dotdot-semicolon-twice"),
    pytest.param("GET", "%2e%2e;x", REFUSED, None, id="pct-dotdot-semicolon"),
    # Nothing before the ";" is an empty segment to such servers ("/;x/" -> "//").
    pytest.param("GET", ";x/y", REFUSED, None, id="empty-before-semicolon"),
    # Double encoding: a "%" left after the one decoding.
    pytest.param("GET", "%252e%252e", REFUSED, None, id="double-encoded-dots"),
    pytest.param("GET", "a%252fb", REFUSED, None, id="double-encoded-slash"),
    pytest.param("GET", "%255c", REFUSED, None, id="double-encoded-backslash"),
    pytest.param("GET", "100%25", REFUSED, None, id="literal-percent"),  # by design, see the report
    pytest.param("GET", "%u002e%u002e", REFUSED, None, id="iis-u-encoding"),
    # Empty segments, and the host-confusion attempts that need one.
    pytest.param("GET", "a//b", REFUSED, None, id="double-slash"),
    pytest.param("GET", "a///b", REFUSED, None, id="triple-slash"),
    pytest.param("GET", "/etc/passwd", REFUSED, None, id="leading-slash-after-prefix"),
    pytest.param("GET", "//evil.example/x", REFUSED, None, id="protocol-relative-host"),
    pytest.param("GET", "///evil.example", REFUSED, None, id="three-slashes-host"),
    pytest.param("GET", "http://evil.example/", REFUSED, None, id="absolute-url"),
    pytest.param("GET", "http:%2f%2fevil.example", REFUSED, None, id="absolute-url-encoded-slashes"),
    pytest.param("GET", "https:/%2fevil.example/x", REFUSED, None, id="absolute-url-half-encoded"),
    # "@" and ":" are ordinary pchars inside a path: the host stays the target's.
    pytest.param("GET", "@evil.example", FORWARDED, "/v1/base/@evil.example", id="userinfo-lookalike"),
    pytest.param("GET", "a@evil.example:80/x", FORWARDED, "/v1/base/a@evil.example:80/x", id="authority-lookalike"),
    # Backslashes, raw and encoded, and encoded slashes (RAW_URI shows them).
    pytest.param("GET", "a\\b", REFUSED, None, id="raw-backslash"),
    pytest.param("GET", "..\\..\\windows", REFUSED, None, id="raw-backslash-dotdot"),
    pytest.param("GET", "a%5cb", REFUSED, None, id="pct-5c"),
    pytest.param("GET", "%5C", REFUSED, None, id="pct-5C-alone"),
    pytest.param("GET", "..%5c", REFUSED, None, id="dotdot-pct5c"),
    pytest.param("GET", "..%5c..%5cwindows", REFUSED, None, id="dotdot-pct5c-twice"),
    pytest.param("GET", "a%2fb", REFUSED, None, id="pct-2f"),
    pytest.param("PATCH", "seg%2Fment", REFUSED, None, id="pct-2F-mid-segment"),
    pytest.param("GET", "a%2F..%2Fb", REFUSED, None, id="pct-2F-dotdot"),
    # Control characters in the path.
    pytest.param("GET", "%00", REFUSED, None, id="nul"),
    pytest.param("GET", "a%00.json", REFUSED, None, id="nul-truncation"),
    pytest.param("GET", "..%00", REFUSED, None, id="dotdot-nul"),
    pytest.param("GET", "a%09b", REFUSED, None, id="tab"),
    pytest.param("GET", "a%0db", REFUSED, None, id="cr"),
    pytest.param("GET", "a%1bb", REFUSED, None, id="esc"),
    pytest.param("GET", "a%7fb", REFUSED, None, id="del"),
    # A "\n" anywhere after the prefix: Django's route regex (".*" without DOTALL)
    # does not match, so the resolver answers 404 before the proxy runs. Nothing
    # goes upstream; DESIGN says 400 (see the report).
    pytest.param("GET", "a%0d%0aX-Injected:%201", REFUSED, None, id="crlf-injection"),
    pytest.param("GET", "a%0ab", REFUSED, None, id="lf"),
    # Unicode that NFKC maps to dots (checked in test_nfkc_claims below).
    pytest.param("GET", "%EF%BC%8E%EF%BC%8E", REFUSED, None, id="fullwidth-dotdot"),
    pytest.param("GET", "%EF%BC%8E", REFUSED, None, id="fullwidth-dot"),
    pytest.param("GET", "%EF%BC%8E%EF%BC%8E/x", REFUSED, None, id="fullwidth-dotdot-then-x"),
    pytest.param("GET", ".%EF%BC%8E", REFUSED, None, id="dot-and-fullwidth-dot"),
    pytest.param("GET", "%EF%BC%8E%EF%BC%8E;x", REFUSED, None, id="fullwidth-dotdot-semicolon"),
    pytest.param("GET", "%E2%80%A4", REFUSED, None, id="one-dot-leader"),
    pytest.param("GET", "%E2%80%A4%E2%80%A4", REFUSED, None, id="one-dot-leader-twice"),
    pytest.param("GET", "%E2%80%A5", REFUSED, None, id="two-dot-leader"),
    pytest.param("GET", "%E2%80%A6", REFUSED, None, id="horizontal-ellipsis"),
    pytest.param("GET", "%EF%B9%92%EF%B9%92", REFUSED, None, id="small-full-stop-twice"),
    # U+3002 IDEOGRAPHIC FULL STOP has no NFKC mapping to ".": an ordinary name.
    pytest.param("GET", "%E3%80%82%E3%80%82", FORWARDED, "/v1/base/%E3%80%82%E3%80%82", id="ideographic-stops"),
    # NFKC maps U+FF0F to "/" and U+FF3C to "\\": an upstream that normalises would
    # see "../etc" and "..\\..", so the segment is refused.
    pytest.param("GET", "%EF%BC%8E%EF%BC%8E%EF%BC%8Fetc", REFUSED, None, id="fullwidth-dotdot-fullwidth-slash"),
    pytest.param("GET", "..%EF%BC%BC..", REFUSED, None, id="dotdot-fullwidth-backslash"),
    # Overlong / invalid UTF-8: Django re-percent-encodes bytes that are not UTF-8
    # (repercent_broken_unicode), so a "%" is left after decoding.
    pytest.param("GET", "%c0%ae%c0%ae", REFUSED, None, id="overlong-dotdot"),
    pytest.param("GET", "%c0%ae", REFUSED, None, id="overlong-dot"),
    pytest.param("GET", "%e0%80%ae%e0%80%ae", REFUSED, None, id="overlong-3byte-dotdot"),
    pytest.param("GET", "%c0%af", REFUSED, None, id="overlong-slash"),
    pytest.param("GET", "%ff", REFUSED, None, id="invalid-utf8-byte"),
    # "?" and "#" tricks. Encoded, they are part of a name and are re-encoded.
    pytest.param("GET", "..%3f", FORWARDED, "/v1/base/..%3F", id="dotdot-encoded-question"),
    pytest.param("GET", "%2e%2e%3fx=1", FORWARDED, "/v1/base/..%3Fx=1", id="pct-dotdot-encoded-question"),
    pytest.param("GET", "%23..", FORWARDED, "/v1/base/%23..", id="encoded-hash-dotdot"),
    pytest.param("GET", "..%23", FORWARDED, "/v1/base/..%23", id="dotdot-encoded-hash"),
    # A raw "?" starts the query: the path is "..".
    pytest.param("GET", "..?x=1", REFUSED, None, id="dotdot-raw-question"),
    # A raw "#" is never sent by a browser; the test client drops the fragment.
    pytest.param("GET", "x#/../..", FORWARDED, "/v1/base/x", id="raw-fragment-dropped"),
    # Not a dot segment by RFC 3986 ("..<space>"); see the report about Windows hosts.
    pytest.param("GET", "..%20", FORWARDED, "/v1/base/..%20", id="dotdot-space"),
    # Control characters in the query.
    pytest.param("GET", "x?a=%0d%0aX-Injected:1", REFUSED, None, id="query-crlf"),
    pytest.param("GET", "x?%0d%0a", REFUSED, None, id="query-bare-crlf"),
    # requests would re-encode every "%" of a query with a malformed escape.
    pytest.param("GET", "x?a=%zz&b=%2F", REFUSED, None, id="query-malformed-escape"),
    pytest.param("GET", "x?a=100%", REFUSED, None, id="query-trailing-percent"),
    pytest.param("GET", "x?a=%00", REFUSED, None, id="query-nul"),
    pytest.param("GET", "x?a=%09", REFUSED, None, id="query-tab"),
    pytest.param("POST", "x?a=%7f", REFUSED, None, id="query-del"),
]


@pytest.mark.parametrize(("method", "rest", "outcome", "forwarded"), ATTACKS)
def test_attack_through_test_client(
    client: Client, things_api: Upstream, method: str, rest: str, outcome: str, forwarded: str | None
) -> None:
    status, body = _send(client, method, rest)
    assert_outcome(status, body, things_api, outcome, forwarded, TARGET_PATH)


def test_attack_battery_is_large_and_distinct() -> None:
    rests = [p.values[1] for p in ATTACKS]
    assert len(rests) >= 40
    assert len(set(rests)) == len(rests), "duplicate attack inputs"


def test_encoded_slash_in_the_route_prefix_is_refused(client: Client, things_api: Upstream) -> None:
    # "/api%2Fthings/x" decodes to the route, but the raw path holds "%2F".
    response = client.get("/api%2Fthings/x", HTTP_X_CSRF="1", RAW_URI="/api%2Fthings/x")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_path"}
    assert things_api.requests == []


def test_encoded_slash_without_the_raw_path_is_one_more_segment(client: Client, things_api: Upstream) -> None:
    # A WSGI server that gives no RAW_URI (the test client without it) makes
    # "%2F" indistinguishable from "/": it is forwarded as a separator, still
    # below the target's path (the limitation named in the docs).
    status, body = _send(client, "GET", "a%2Fb", raw_uri=False)
    assert_outcome(status, body, things_api, FORWARDED, "/v1/base/a/b", TARGET_PATH)


def test_nfkc_claims() -> None:
    """The Unicode attacks above are what they claim to be."""
    assert unicodedata.normalize("NFKC", "\uff0e") == "."  # FULLWIDTH FULL STOP
    assert unicodedata.normalize("NFKC", "\u2024") == "."  # ONE DOT LEADER
    assert unicodedata.normalize("NFKC", "\u2025") == ".."  # TWO DOT LEADER
    assert unicodedata.normalize("NFKC", "\u2026") == "..."  # HORIZONTAL ELLIPSIS
    assert unicodedata.normalize("NFKC", "\ufe52") == "."  # SMALL FULL STOP
    assert unicodedata.normalize("NFKC", "\u3002") == "\u3002"  # IDEOGRAPHIC FULL STOP: not a dot
    assert unicodedata.normalize("NFKC", "\uff0f") == "/"  # FULLWIDTH SOLIDUS
    assert unicodedata.normalize("NFKC", "\uff3c") == "\\"  # FULLWIDTH REVERSE SOLIDUS
    assert unquote("%EF%BC%8E%E2%80%A4%E2%80%A5%EF%B9%92") == "\uff0e\u2024\u2025\ufe52"


def test_refusal_without_the_antiforgery_header_is_401_not_400(client: Client, things_api: Upstream) -> None:
    # Step 1 (X-CSRF) comes before step 2 (the path): no header, no path verdict.
    response = client.get(PREFIX + "..", RAW_URI=PREFIX + "..")
    assert response.status_code == 401
    assert things_api.requests == []


# --- 3. legitimate paths and queries through the test client --------------------------------

#: (the path after "api/things/" as sent, the upstream's raw path, the upstream's query)
LEGIT = [
    pytest.param("", "/v1/base/", "", id="empty-remainder"),
    pytest.param("a/b", "/v1/base/a/b", "", id="two-segments"),
    pytest.param("a/b/", "/v1/base/a/b/", "", id="trailing-slash-kept"),
    pytest.param("orders/42/items/", "/v1/base/orders/42/items/", "", id="nested-trailing-slash"),
    pytest.param("a%20b", "/v1/base/a%20b", "", id="space"),
    pytest.param("caf%C3%A9", "/v1/base/caf%C3%A9", "", id="unicode"),
    pytest.param("caf%c3%a9", "/v1/base/caf%C3%A9", "", id="unicode-lowercase-escapes-reencoded"),
    pytest.param("%E2%82%AC", "/v1/base/%E2%82%AC", "", id="euro-sign"),
    pytest.param("a;b=c", "/v1/base/a;b=c", "", id="semicolon-in-segment"),
    pytest.param("a:b@c", "/v1/base/a:b@c", "", id="colon-and-at"),
    pytest.param("~user", "/v1/base/~user", "", id="tilde"),
    pytest.param("%7Euser", "/v1/base/~user", "", id="encoded-tilde-reencoded"),
    pytest.param("a+b", "/v1/base/a+b", "", id="plus"),
    pytest.param("!$&'()*,=", "/v1/base/!$&'()*,=", "", id="sub-delims"),
    pytest.param(".hidden", "/v1/base/.hidden", "", id="dot-name"),
    pytest.param(".well-known/openid-configuration", "/v1/base/.well-known/openid-configuration", "", id="well-known"),
    pytest.param("..x", "/v1/base/..x", "", id="dotdot-prefix-name"),
    pytest.param("x..", "/v1/base/x..", "", id="dotdot-suffix-name"),
    pytest.param("a.b.c", "/v1/base/a.b.c", "", id="dotted-name"),
    pytest.param("a%3Fb", "/v1/base/a%3Fb", "", id="encoded-question-mark"),
    pytest.param("a%23b", "/v1/base/a%23b", "", id="encoded-hash"),
    pytest.param("x?a=1&b=%2F&c=%20", "/v1/base/x", "a=1&b=%2F&c=%20", id="query-byte-for-byte"),
    pytest.param("x?q=a+b&r=%E2%82%AC&s=%5B%5D", "/v1/base/x", "q=a+b&r=%E2%82%AC&s=%5B%5D", id="query-plus-unicode"),
    pytest.param("x?a=%25", "/v1/base/x", "a=%25", id="query-literal-percent"),
    pytest.param("x?a=..%2F..%2F&b=%5C", "/v1/base/x", "a=..%2F..%2F&b=%5C", id="query-is-not-a-path"),
    pytest.param("?a=1", "/v1/base/", "a=1", id="empty-remainder-with-query"),
    pytest.param("x?", "/v1/base/x", "", id="empty-query"),
]


@pytest.mark.parametrize(("rest", "raw_path", "query"), LEGIT)
def test_legit_path_arrives_exactly(client: Client, things_api: Upstream, rest: str, raw_path: str, query: str) -> None:
    status, body = _send(client, "GET", rest)
    assert status == 200, body[:200]
    assert [(r["raw_path"], r["query"]) for r in things_api.requests] == [(raw_path, query)]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_legit_path_every_method(client: Client, things_api: Upstream, method: str) -> None:
    status, _ = _send(client, method, "a/b%20c/")
    assert status == 200
    assert [(r["method"], r["raw_path"]) for r in things_api.requests] == [(method, "/v1/base/a/b%20c/")]


#: The query goes upstream as sent, but for the case of percent escapes, which
#: urllib3 upper-cases (RFC 3986 section 6.2.2.1: the same URI). A malformed
#: escape is refused (see the attack battery).
QUERY_NORMALISED = [
    pytest.param("x?a=%41%2e", "a=%41%2E", id="escapes-kept-upper-cased"),
    pytest.param("x?b=%2f&c=%20&d=~", "b=%2F&c=%20&d=~", id="escapes-upper-cased"),
]


@pytest.mark.parametrize(("rest", "query"), QUERY_NORMALISED)
def test_query_escapes_are_only_upper_cased(client: Client, things_api: Upstream, rest: str, query: str) -> None:
    status, _ = _send(client, "GET", rest)
    assert status == 200
    assert [(r["raw_path"], r["query"]) for r in things_api.requests] == [("/v1/base/x", query)]


# --- 5. build_upstream_url, the proof step ---------------------------------------------------

#: (target, path, query, raw_path, expected URL)
BUILT = [
    pytest.param("http://api.example/v1/", "a/b", "", None, "http://api.example/v1/a/b", id="slash-target"),
    pytest.param("http://api.example/v1", "a/b", "", None, "http://api.example/v1/a/b", id="no-slash-target"),
    pytest.param("http://api.example/v1/", "", "", None, "http://api.example/v1/", id="empty-path-slash-target"),
    pytest.param("http://api.example/v1", "", "", None, "http://api.example/v1", id="empty-path-no-slash-target"),
    pytest.param("http://api.example/v1", "a/", "", None, "http://api.example/v1/a/", id="trailing-slash-kept"),
    pytest.param("https://api.example", "", "", None, "https://api.example/", id="bare-host-empty-path"),
    pytest.param("https://api.example", "x", "", None, "https://api.example/x", id="bare-host"),
    pytest.param("https://api.example/", "x/y/", "", None, "https://api.example/x/y/", id="root-target"),
    pytest.param(
        "http://api.example:8443/v1/", "x", "q=1", None, "http://api.example:8443/v1/x?q=1", id="port-and-query"
    ),
    pytest.param("http://api.example:8443/v1", "", "q=1", None, "http://api.example:8443/v1?q=1", id="port-empty-path"),
    pytest.param("http://[::1]:8080/v1/", "x", "", None, "http://[::1]:8080/v1/x", id="ipv6-host"),
    pytest.param(
        "http://api.example/v1/", "caf\u00e9 x", "", None, "http://api.example/v1/caf%C3%A9%20x", id="reencoded"
    ),
    pytest.param("http://api.example/v1/", "a?b#c", "", None, "http://api.example/v1/a%3Fb%23c", id="delims-reencoded"),
    pytest.param(
        "http://api.example/v1/", "@evil.example", "", None, "http://api.example/v1/@evil.example", id="at-sign"
    ),
    pytest.param("http://api.example/v1/", "a:b", "", None, "http://api.example/v1/a:b", id="colon"),
    pytest.param(
        "http://api.example/v1/", "a", "b=%2F&c=%20", "/api/a", "http://api.example/v1/a?b=%2F&c=%20", id="query-as-is"
    ),
    # raw_path is the raw path only: _raw_path() strips the query ("?b=%2F" is fine).
    pytest.param("http://api.example/v1/", "a/b", "", "/api/a/b", "http://api.example/v1/a/b", id="raw-path-clean"),
]


@pytest.mark.parametrize(("target", "path", "query", "raw_path", "expected"), BUILT)
def test_build_upstream_url(target: str, path: str, query: str, raw_path: str | None, expected: str) -> None:
    url = build_upstream_url(target, path, query, raw_path)
    assert url == expected
    built, base = urlsplit(url), urlsplit(target)
    assert (built.scheme, built.hostname, built.port) == (base.scheme, base.hostname, base.port)


#: (path, query, raw_path) that must raise InvalidProxyPath, whatever the target.
REFUSED_BUILDS = [
    pytest.param("..", "", None, id="dotdot"),
    pytest.param(".", "", None, id="dot"),
    pytest.param("a/../b", "", None, id="dotdot-middle"),
    pytest.param("a/./b", "", None, id="dot-middle"),
    pytest.param("a/..", "", None, id="dotdot-last"),
    pytest.param("../", "", None, id="dotdot-trailing-slash"),
    pytest.param("...", "", None, id="three-dots"),
    pytest.param("..;x", "", None, id="dotdot-semicolon"),
    pytest.param(";x", "", None, id="empty-before-semicolon"),
    pytest.param("\uff0e\uff0e", "", None, id="fullwidth-dotdot"),
    pytest.param("\u2025", "", None, id="two-dot-leader"),
    pytest.param("\u2024\u2024;x", "", None, id="one-dot-leaders-semicolon"),
    pytest.param("a//b", "", None, id="empty-segment"),
    pytest.param("/a", "", None, id="leading-slash"),
    pytest.param("//evil.example/x", "", None, id="protocol-relative"),
    pytest.param("http://evil.example/", "", None, id="absolute-url"),
    pytest.param("a\\b", "", None, id="backslash"),
    pytest.param("a\x00b", "", None, id="nul"),
    pytest.param("a\nb", "", None, id="lf"),
    pytest.param("a\x1fb", "", None, id="unit-separator"),
    pytest.param("a\x7fb", "", None, id="del"),
    pytest.param("%2e%2e", "", None, id="percent-left"),
    pytest.param("a%2Fb", "", None, id="percent-left-slash"),
    pytest.param("a/b", "", "/api/a%2Fb", id="raw-encoded-slash"),
    pytest.param("a\\b", "", "/api/a%5cb", id="raw-encoded-backslash"),
    pytest.param("a/b", "", "/api%2fthings/a/b", id="raw-encoded-slash-in-prefix"),
    pytest.param("a", "x=%0d%0aInjected:1", None, id="query-crlf"),
    pytest.param("a", "x=\x01", None, id="query-raw-control"),
    pytest.param("a", "x=%7F", None, id="query-del"),
]

TARGETS = [
    "http://api.example/v1/",
    "http://api.example/v1",
    "https://api.example:8443/v1/",
    "https://api.example",
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("path", "query", "raw_path"), REFUSED_BUILDS)
def test_build_upstream_url_refuses(target: str, path: str, query: str, raw_path: str | None) -> None:
    with pytest.raises(InvalidProxyPath):
        build_upstream_url(target, path, query, raw_path)
