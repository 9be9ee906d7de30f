"""Faults that cross a process boundary, through real gunicorn (gthread) and uvicorn servers.

1. An upstream answer with headers that cannot be passed on: a NUL byte or
   another control character in a value, a name that is not a token (passed
   on, gunicorn answered 500 and uvicorn dropped the connection without an
   answer), a header line without a colon (http.client loses every header
   after it, Content-Length included: the body would end at the read timeout).
   Each is a 502 at once, on both servers and both of uvicorn's paths.
   The upstream is a raw socket (tests/support/upstream.py's RawUpstream).
2. Under uvicorn, a browser that leaves a quiet server-sent-events stream: the
   upstream connection and the stream thread come free at once, not at the
   next event or the read timeout ("generator already executing" without the fix).
3. Under uvicorn, a client that stops sending in the middle of an upload:
   408 after ``BFF["REQUEST_BODY_TIMEOUT"]``, and the connection is closed.

Waits are bounded (an event, a socket timeout) far below the timeouts that
would end them without the fix; nothing asserts a duration.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.served_settings import served_with
from tests.support.servers import Server, serve
from tests.support.upstream import RawUpstream

pytestmark = pytest.mark.integration

#: Far above every bounded wait of these tests: without the fixes, nothing would end before the wait does.
READ_TIMEOUT = 120
#: The client's bound on an answer that the fix makes prompt.
PROMPT = 20
BODY_TIMEOUT = 1
SETTINGS = {"PROXY_READ_TIMEOUT": READ_TIMEOUT, "REQUEST_BODY_TIMEOUT": BODY_TIMEOUT}

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
AFTER = b"\r\nX-Good: yes\r\nContent-Length: 2\r\n\r\n{}"
UNREADABLE = {
    "nul": OK_HEAD + b"X-Bad: secret\x00value" + AFTER,
    "escape": OK_HEAD + b"X-Bad: secret\x1bvalue" + AFTER,
    "delete": OK_HEAD + b"X-Bad: secret\x7fvalue" + AFTER,
    "name": OK_HEAD + b"X(Bad): secretvalue" + AFTER,
    "no-colon": OK_HEAD + b"no colon here\r\nX-Good: yes\r\nContent-Length: 2\r\n\r\n{}",
    "bad-length": OK_HEAD + b"Content-Length: 2x\r\n\r\n{}",
}
GOOD = OK_HEAD + b"X-Good: yes\r\nContent-Length: 2\r\n\r\n{}"


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


QUIET_STREAM = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(
    b"data: first\n\n"
)


@dataclasses.dataclass
class Served:
    kind: str
    server: Server
    upstream: RawUpstream

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def raw() -> Iterator[RawUpstream]:
    with RawUpstream() as upstream:
        for name, answer in UNREADABLE.items():
            upstream.answer(name, answer)
        upstream.answer("good", GOOD)
        yield upstream


#: gunicorn (WSGI), and uvicorn (ASGI) with the async path (the default) and with the thread path.
SERVERS = {"gunicorn": {}, "uvicorn": {}, "uvicorn-threads": {"PROXY_ASYNC": False}}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def served(request: pytest.FixtureRequest, raw: RawUpstream) -> Iterator[Served]:
    kind = request.param
    settings = served_with({**SETTINGS, **SERVERS[kind]})
    with serve(kind.partition("-")[0], {**settings, "BFF_TEST_UPSTREAM": raw.url}) as server:
        yield Served(kind, server, raw)


@pytest.fixture
def uvicorn(served: Served) -> Served:
    if not served.kind.startswith("uvicorn"):
        pytest.skip("ASGI only")
    return served


def connect(served: Served) -> socket.socket:
    parts = urlsplit(served.url)
    assert parts.hostname and parts.port
    return socket.create_connection((parts.hostname, parts.port), timeout=PROMPT)


def head(served: Served, method: str, path: str, extra: str = "") -> bytes:
    host = urlsplit(served.url).netloc
    return f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-CSRF: 1\r\n{extra}\r\n".encode()


# --- 1. upstream headers that cannot be passed on ------------------------------------------------


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_an_answer_whose_headers_cannot_be_read_is_502_at_once(served: Served, name: str) -> None:
    response = requests.get(f"{served.url}/api/up/{name}", headers={"X-CSRF": "1"}, timeout=(5, PROMPT))
    assert response.status_code == 502, served.server.output()
    assert response.json() == {"error": "upstream_invalid_response"}
    assert response.headers["Content-Type"] == "application/json"
    assert served.upstream.closed(name).wait(PROMPT), "the upstream connection was kept"
    assert "secret" not in response.text and "secret" not in str(response.headers)
    assert "secret" not in served.server.output()  # the header's name may be logged, never its value


# --- 2. a browser leaves a quiet event stream (ASGI) ----------------------------------------------


def test_leaving_a_quiet_event_stream_frees_the_upstream_connection_at_once(uvicorn: Served) -> None:
    name = "quiet"
    uvicorn.upstream.answer(name, QUIET_STREAM)  # one event, then silence (far shorter than the read timeout)
    with connect(uvicorn) as browser:
        browser.sendall(head(uvicorn, "GET", f"/api/up/{name}"))
        received = b""
        while b"data: first" not in received:
            data = browser.recv(65536)
            assert data, received
            received += data
        assert received.startswith(b"HTTP/1.1 200")
    # The browser is gone: the proxy must close its upstream connection now, not at the next event.
    assert uvicorn.upstream.closed(name).wait(PROMPT), uvicorn.server.output()
    # The process still serves, and logged no error about the abandoned stream.
    assert requests.get(f"{uvicorn.url}/api/up/good", headers={"X-CSRF": "1"}, timeout=PROMPT).status_code == 200
    log = uvicorn.server.output()
    assert "generator already executing" not in log and "Exception in ASGI application" not in log, log
    assert "interrupted" not in log, log  # the browser left: not the upstream's fault


# --- 3. a client stops sending in the middle of an upload (ASGI) ---------------------------------


def test_a_stalled_upload_is_answered_408_and_closed(uvicorn: Served) -> None:
    requests_before = list(uvicorn.upstream.requests)
    with connect(uvicorn) as client:
        client.sendall(head(uvicorn, "POST", "/api/up/upload", "Content-Length: 1000\r\n"))
        client.sendall(b"x" * 100)  # ... and nothing more
        answer = b""
        while data := client.recv(65536):  # bounded by the socket timeout
            answer += data
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status_line.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(body) == {"error": "request_body_timeout"}
    assert b"connection: close" in headers.lower()
    assert uvicorn.upstream.requests == requests_before  # nothing went upstream
