"""The proxy's path rule through real servers (gunicorn, uvicorn), sent as raw request lines.

requests/urllib3 normalise ``..`` and ``%2e``, so a plain socket sends each request line byte for byte;
the outcomes are those of ``tests/proxy/test_paths.py`` (:mod:`tests.support.proxy_paths`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.support.proxy_paths import FORWARDED, NOT_ROUTED, REFUSED, SERVER_REJECTED, assert_outcome
from tests.support.servers import Server, serve
from tests.support.upstream import Upstream

#: The route that tests/settings.py sets up for served processes (BFF_TEST_UPSTREAM).
SERVED_TARGET_PATH = "/v1/"


# --- 4. real servers, raw request lines ------------------------------------------------------


@pytest.fixture(scope="module", params=["gunicorn", "uvicorn"])
def served(request: pytest.FixtureRequest, upstream: Upstream) -> Iterator[tuple[str, Server]]:
    """The test project under a real server, proxying ``api/up/`` to ``<upstream>/v1/``.

    Module-scoped and parametrised: pytest runs all cases of one server before
    starting the other, so each starts once.
    """
    with serve(request.param, env={"BFF_TEST_UPSTREAM": upstream.url}) as server:
        yield request.param, server


def _raw_request(server: Server, target: bytes, method: bytes = b"GET") -> tuple[int, bytes]:
    """Sends ``target`` byte for byte in the request line; returns (status, body).

    ``http.client`` refuses control characters and requests/urllib3 normalise
    dot segments, so a plain socket it is.
    """
    parts = urlsplit(server.url)
    head = method + b" " + target + b" HTTP/1.1\r\n"
    head += f"Host: {parts.netloc}\r\nX-CSRF: 1\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    data = b"".join(chunks)
    status_line, _, rest = data.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in headers.lower():
        body = _unchunk(body)
    return int(status_line.split()[1]), body


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


#: (full request target, expected outcome, upstream path when forwarded,
#:  overrides per server kind: {kind: (outcome, path)})
SERVED = [
    # Refused by the proxy on both servers.
    pytest.param(b"/api/up/..", REFUSED, None, {}, id="dotdot"),
    pytest.param(b"/api/up/a/../b", REFUSED, None, {}, id="dotdot-in-middle"),
    pytest.param(b"/api/up/%2e%2e", REFUSED, None, {}, id="pct-2e2e"),
    pytest.param(b"/api/up/%2E%2e/x", REFUSED, None, {}, id="pct-2E2e"),
    pytest.param(b"/api/up/.%2e/x", REFUSED, None, {}, id="dot-pct2e"),
    pytest.param(b"/api/up/..%2f", REFUSED, None, {}, id="dotdot-pct2f"),
    pytest.param(b"/api/up/a%2Fb", REFUSED, None, {}, id="encoded-slash"),
    pytest.param(b"/api/up/a%2fb", REFUSED, None, {}, id="encoded-slash-lowercase"),
    pytest.param(b"/api%2Fup/x", REFUSED, None, {}, id="encoded-slash-in-prefix"),
    pytest.param(b"/api/up/a%5cb", REFUSED, None, {}, id="encoded-backslash"),
    pytest.param(b"/api/up/a\\b", REFUSED, None, {}, id="raw-backslash"),
    pytest.param(b"/api/up/%252e%252e", REFUSED, None, {}, id="double-encoded-dots"),
    pytest.param(b"/api/up/..;/x", REFUSED, None, {}, id="dotdot-semicolon"),
    pytest.param(b"/api/up/a//b", REFUSED, None, {}, id="double-slash"),
    pytest.param(b"/api/up//evil.example/x", REFUSED, None, {}, id="protocol-relative-host"),
    pytest.param(b"/api/up/%00", REFUSED, None, {}, id="encoded-nul"),
    pytest.param(b"/api/up/a%09b", REFUSED, None, {}, id="encoded-tab"),
    pytest.param(b"/api/up/%EF%BC%8E%EF%BC%8E", REFUSED, None, {}, id="fullwidth-dotdot"),
    pytest.param(b"/api/up/%E2%80%A5", REFUSED, None, {}, id="two-dot-leader"),
    pytest.param(b"/api/up/%u002e%u002e", REFUSED, None, {}, id="iis-u-encoding"),
    pytest.param(b"/api/up/x?a=%0d%0aX-Injected:1", REFUSED, None, {}, id="query-crlf"),
    # Newline: the route regex does not match (see section 2); nothing upstream.
    pytest.param(b"/api/up/a%0d%0ab", REFUSED, None, {}, id="encoded-crlf"),
    # Raw bytes the servers' own parsers refuse before Django runs.
    pytest.param(b"/api/up/a\x00b", SERVER_REJECTED, None, {}, id="raw-nul"),
    pytest.param(b"/api/up/a\x01b", SERVER_REJECTED, None, {}, id="raw-control"),
    pytest.param(b"/api/up/a\tb", SERVER_REJECTED, None, {}, id="raw-tab"),
    pytest.param(b"/api/up/a\rb", SERVER_REJECTED, None, {}, id="raw-cr"),
    pytest.param(b"/api/up/a\x7fb", SERVER_REJECTED, None, {}, id="raw-del"),
    pytest.param(b"/api/up/a b", SERVER_REJECTED, None, {}, id="raw-space"),
    pytest.param(b"/api/up/caf\xc3\xa9", SERVER_REJECTED, None, {}, id="raw-utf8"),
    pytest.param(b"/api/up/x?a=\x01", SERVER_REJECTED, None, {}, id="raw-control-in-query"),
    # Invalid UTF-8, encoded. gunicorn hands Django the bytes, which re-percent-
    # encodes them ("%" left); uvicorn decodes them with errors="replace" (U+FFFD).
    # Either way the raw path is not UTF-8 once decoded: refused on both.
    pytest.param(
        b"/api/up/%c0%ae%c0%ae",
        REFUSED,
        None,
        {},
        id="overlong-dotdot",
    ),
    pytest.param(b"/api/up/%ff", REFUSED, None, {}, id="invalid-utf8"),
    # A raw "#": gunicorn drops the fragment; uvicorn keeps it in the path,
    # where "#/../.." holds dot segments.
    pytest.param(b"/api/up/x#/../..", FORWARDED, "/v1/x", {"uvicorn": (REFUSED, None)}, id="raw-fragment"),
    # Absolute-form request target naming another host: gunicorn routes on its
    # path (the upstream is still the target); uvicorn puts it all in the path,
    # which no route matches. Either way nothing goes to evil.example.
    pytest.param(
        b"http://evil.example/api/up/x", FORWARDED, "/v1/x", {"uvicorn": (NOT_ROUTED, None)}, id="absolute-form-target"
    ),
    # "..?" is a name; the "?" is re-encoded.
    pytest.param(b"/api/up/..%3f", FORWARDED, "/v1/..%3F", {}, id="dotdot-encoded-question"),
]

#: (full request target, the upstream's raw path, the upstream's query)
SERVED_LEGIT = [
    pytest.param(b"/api/up/", "/v1/", "", id="empty-remainder"),
    pytest.param(b"/api/up/a/b", "/v1/a/b", "", id="two-segments"),
    pytest.param(b"/api/up/a/b/", "/v1/a/b/", "", id="trailing-slash"),
    pytest.param(b"/api/up/a%20b", "/v1/a%20b", "", id="space"),
    pytest.param(b"/api/up/caf%C3%A9", "/v1/caf%C3%A9", "", id="unicode"),
    pytest.param(b"/api/up/a;b=c", "/v1/a;b=c", "", id="semicolon"),
    pytest.param(b"/api/up/..x/.hidden/~u", "/v1/..x/.hidden/~u", "", id="dot-names"),
    pytest.param(b"/api/up/x?a=1&b=%2F&c=%20", "/v1/x", "a=1&b=%2F&c=%20", id="query-byte-for-byte"),
]


@pytest.mark.parametrize(("target", "outcome", "forwarded", "overrides"), SERVED)
def test_attack_through_real_server(
    served: tuple[str, Server],
    upstream: Upstream,
    target: bytes,
    outcome: str,
    forwarded: str | None,
    overrides: dict[str, tuple[str, str | None]],
) -> None:
    kind, server = served
    outcome, forwarded = overrides.get(kind, (outcome, forwarded))
    upstream.clear()
    status, body = _raw_request(server, target)
    assert_outcome(status, body, upstream, outcome, forwarded, SERVED_TARGET_PATH)


@pytest.mark.parametrize(("target", "raw_path", "query"), SERVED_LEGIT)
def test_legit_path_through_real_server(
    served: tuple[str, Server], upstream: Upstream, target: bytes, raw_path: str, query: str
) -> None:
    _, server = served
    upstream.clear()
    status, body = _raw_request(server, target)
    assert status == 200, body[:200]
    assert [(r["raw_path"], r["query"]) for r in upstream.requests] == [(raw_path, query)]


def test_real_server_batteries_are_large_enough() -> None:
    attacks = [p for p in SERVED if p.values[1] != FORWARDED]
    assert len(attacks) >= 15 and len(SERVED_LEGIT) >= 5
