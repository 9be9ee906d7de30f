"""Quiet event streams through one real uvicorn worker: no proxy thread per stream on the async path.

The worker's threads are counted (``/proc/<pid>/task``) with a few streams
open, then with many more: on the async path (``BFF["PROXY_ASYNC"]``) no
thread is added per stream, neither the proxy's nor Django's (its ASGI handler
runs each request in a ``ThreadSensitiveContext`` whose thread would live
until the request ends: the proxy ends it while the answer streams); on the
thread path there are both, a reader thread and Django's per quiet stream
(which shows that the count can tell). Counts only, never a duration.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.served_settings import served_with
from tests.support.servers import Server, serve
from tests.support.upstream import RawUpstream

pytestmark = pytest.mark.integration

FEW = 5
PROMPT = 20


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


QUIET = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(
    b"data: first\n\n"
)


@pytest.fixture(scope="module")
def raw() -> Iterator[RawUpstream]:
    with RawUpstream() as upstream:
        upstream.answer("quiet", QUIET)
        upstream.answer("ok", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        yield upstream


def threads(server: Server) -> int:
    return len(os.listdir(f"/proc/{server.pid}/task"))


def open_stream(server: Server, stack: ExitStack) -> None:
    """A browser reading a quiet event stream: returns once its first event has arrived."""
    parts = urlsplit(server.url)
    assert parts.hostname and parts.port
    browser = stack.enter_context(socket.create_connection((parts.hostname, parts.port), timeout=PROMPT))
    browser.sendall(f"GET /api/up/quiet HTTP/1.1\r\nHost: {parts.netloc}\r\nX-CSRF: 1\r\n\r\n".encode())
    seen = b""
    while b"data: first" not in seen:
        data = browser.recv(65536)
        assert data, "the stream ended early"
        seen += data


# The thread path opens fewer: past its stream threads (40), further streams wait for one to come free.
@pytest.mark.parametrize("async_path, more", [(True, 50), (False, 20)], ids=["async", "threads"])
def test_quiet_streams_hold_no_thread_each_on_the_async_path(raw: RawUpstream, async_path: bool, more: int) -> None:
    settings = {"PROXY_ASYNC": async_path, "PROXY_READ_TIMEOUT": 120}
    with serve("uvicorn", {**served_with(settings), "BFF_TEST_UPSTREAM": raw.url}) as server, ExitStack() as stack:
        assert requests.get(f"{server.url}/api/up/ok", headers={"X-CSRF": "1"}, timeout=PROMPT).status_code == 200
        for _ in range(FEW):
            open_stream(server, stack)
        few = threads(server)
        for _ in range(more):
            open_stream(server, stack)
        many = threads(server)
        # Django's ASGI handler gives each request a ThreadSensitiveContext, whose one thread (made by the
        # first sync middleware or signal receiver) would live as long as the request; the async path ends
        # it once the answer streams. The thread path keeps it, and a reader thread per quiet stream.
        if async_path:
            assert many - few <= 2, (few, many)  # no thread per stream
        else:
            assert many - few >= more + more // 2, (few, many)
        # The streams still end cleanly: one more call, and no error in the log.
        assert requests.get(f"{server.url}/api/up/ok", headers={"X-CSRF": "1"}, timeout=PROMPT).status_code == 200
        log = server.output()
        assert "Exception in ASGI application" not in log and "Traceback" not in log, log
