"""The proxy streams, both ways, under real servers: gunicorn (gthread, WSGI) and uvicorn (ASGI).

* a 256 MiB download and a 256 MiB upload go through with the right bytes while
  the serving process's resident memory grows by less than 32 MiB;
* server-sent events reach the browser one by one, not when the stream ends;
* an over-limit body is refused with 413 before anything reaches the upstream;
* a chunked upload is refused with 411.

Under uvicorn an upload is not streamed end to end: Django's ASGI handler reads
the whole request body into a temporary file (on disk past 2.5 MiB) before the
view runs, and the proxy then streams it upstream from that file. Memory stays
flat all the same; the 411/413 tests below pin what each server reads first.

Run with ``-s`` to see the measured numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.memory import RSSSampler, children, connected_to, serving_pid, spooled_bytes
from tests.support.served_settings import served_with
from tests.support.servers import Server, serve
from tests.support.upstream import PATTERN, Upstream, pattern_sha256

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
SIZE = 256 * MiB
LIMIT = 300_000_000  # above SIZE, for the upload
DEFAULT_LIMIT = 10 * MiB
MEMORY_BOUND = 32 * MiB
HEADERS = {"X-CSRF": "1"}
#: gunicorn (WSGI); uvicorn (ASGI) on the async path (the default) and on the thread path.
KINDS = ["gunicorn", "uvicorn", "uvicorn-threads"]
#: (connect, read) for the big transfers; the read timeout is per socket read, not overall.
BIG_TIMEOUT = (5, 120)
TIMEOUT = (5, 30)


@dataclasses.dataclass
class Served:
    kind: str
    server: Server
    upstream: Upstream
    pid: int  # the process that runs Django (a gunicorn worker, the uvicorn process itself)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def upstream_port(self) -> int:
        port = urlsplit(self.upstream.url).port
        assert port is not None
        return port


def _served(kind: str, upstream: Upstream, env: dict[str, str]) -> Iterator[Served]:
    if kind == "uvicorn-threads":
        env = {**env, **served_with({"PROXY_ASYNC": False})}
    with serve(kind.partition("-")[0], {"BFF_TEST_UPSTREAM": upstream.url, **env}) as server:
        pid = serving_pid(server.pid)
        if kind == "gunicorn":
            assert pid != server.pid, "the gunicorn master has no worker"
        else:
            # uvicorn --workers 1 serves in its own process, no supervisor and no child.
            assert children(server.pid) == [], children(server.pid)
            assert pid == server.pid
        yield Served(kind, server, upstream, pid)


@pytest.fixture(scope="module", params=KINDS)
def served(request: pytest.FixtureRequest, upstream: Upstream) -> Iterator[Served]:
    """The project under a real server, with a body limit above the 256 MiB upload."""
    yield from _served(request.param, upstream, {"BFF_TEST_MAX_REQUEST_BODY": str(LIMIT)})


@pytest.fixture(scope="module", params=KINDS)
def served_default_limit(request: pytest.FixtureRequest, upstream: Upstream) -> Iterator[Served]:
    """The same with the default body limit (10 MiB)."""
    yield from _served(request.param, upstream, {})


# --- helpers -------------------------------------------------------------------------------

_DOUBLED = PATTERN + PATTERN
_BLOCK = len(PATTERN)  # 64 KiB


def _upload_block(index: int) -> memoryview:
    """Block ``index`` of the upload: the pattern rotated by ``index % 251`` (so blocks differ)."""
    shift = index % 251
    return memoryview(_DOUBLED)[shift : shift + _BLOCK]


class UploadBody:
    """A file-like upload of ``size`` bytes made on the fly: ``__len__`` gives requests a Content-Length."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0

    def __len__(self) -> int:
        return self.size - self.position

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.position
        if left <= 0:
            return b""
        if n is None or n < 0:
            n = left
        block, offset = divmod(self.position, _BLOCK)
        piece = _upload_block(block)[offset : offset + min(n, left, _BLOCK - offset)]
        self.position += len(piece)
        return bytes(piece)


class _PausingBody(UploadBody):
    """An upload that calls ``pause`` once, when the first ``at`` bytes have been read."""

    def __init__(self, size: int, at: int, pause: Callable[[], int]) -> None:
        super().__init__(size)
        self.at = at
        self.pause = pause
        self.spooled: int | None = None

    def read(self, n: int = -1) -> bytes:
        if self.position >= self.at and self.spooled is None:
            self.spooled = self.pause()
        if n is None or n < 0:
            n = self.size
        return super().read(min(n, self.at - self.position) if self.position < self.at else n)


@functools.cache
def upload_sha256(size: int) -> str:
    digest = hashlib.sha256()
    whole, rest = divmod(size, _BLOCK)
    for index in range(whole):
        digest.update(_upload_block(index))
    digest.update(_upload_block(whole)[:rest])
    return digest.hexdigest()


def _settle(served: Served) -> None:
    """After a warm-up: the serving process holds the upstream connection, and has settled."""
    assert connected_to(served.pid, served.upstream_port), (
        f"process {served.pid} holds no connection to the upstream: it is not the one that runs Django"
    )
    time.sleep(0.3)


def _report(label: str, served: Served, mem: RSSSampler, seconds: float) -> str:
    line = f"[{served.kind}] {label}: {SIZE / MiB:.0f} MiB in {seconds:.2f} s; {mem.describe()}"
    print("\n" + line)
    return line


# --- 1. download ---------------------------------------------------------------------------


def test_download_256_mib_streams_in_bounded_memory(served: Served) -> None:
    url = f"{served.url}/api/up/download"
    with requests.Session() as http:
        with http.get(url, params={"size": 8 * MiB}, headers=HEADERS, stream=True, timeout=TIMEOUT) as warm:
            assert warm.status_code == 200, served.server.output()
            assert sum(len(c) for c in warm.iter_content(MiB)) == 8 * MiB
        _settle(served)

        digest = hashlib.sha256()
        received = 0
        started = time.monotonic()
        with RSSSampler(served.pid) as mem:
            with http.get(url, params={"size": SIZE}, headers=HEADERS, stream=True, timeout=BIG_TIMEOUT) as response:
                status = response.status_code
                length = response.headers.get("Content-Length")
                for chunk in response.iter_content(MiB):
                    digest.update(chunk)
                    received += len(chunk)
        seconds = time.monotonic() - started

    line = _report("download", served, mem, seconds)
    assert status == 200, served.server.output()
    assert length == str(SIZE)
    assert received == SIZE
    assert digest.hexdigest() == pattern_sha256(SIZE)
    assert served.upstream.last["query"] == f"size={SIZE}"
    assert mem.growth < MEMORY_BOUND, line


# --- 2. upload -----------------------------------------------------------------------------


def test_upload_256_mib_streams_in_bounded_memory(served: Served) -> None:
    url = f"{served.url}/api/up/upload"
    with requests.Session() as http:
        warm_size = 8 * MiB
        with http.post(url, data=UploadBody(warm_size), headers=HEADERS, timeout=TIMEOUT) as warm:
            assert warm.status_code == 200, served.server.output()
            assert warm.json()["body_length"] == warm_size
        _settle(served)

        served.upstream.clear()
        started = time.monotonic()
        with RSSSampler(served.pid) as mem:
            with http.post(url, data=UploadBody(SIZE), headers=HEADERS, timeout=BIG_TIMEOUT) as response:
                status = response.status_code
                echoed = response.json() if status == 200 else response.text
        seconds = time.monotonic() - started

    line = _report("upload", served, mem, seconds)
    assert status == 200, (echoed, served.server.output())
    assert echoed["method"] == "POST"
    assert echoed["headers"]["content-length"] == str(SIZE)
    assert "transfer-encoding" not in echoed["headers"]
    assert echoed["body_length"] == SIZE
    assert echoed["body_sha256"] == upload_sha256(SIZE)
    assert [r["body_length"] for r in served.upstream.requests] == [SIZE]
    assert mem.growth < MEMORY_BOUND, line


# --- 2b. refused uploads: what the server reads first --------------------------------------
#
# Under WSGI (gunicorn) the view sees the request as soon as its headers are in
# and refuses it without reading the body. Under ASGI, Django's handler would read
# the whole body (spooling it to disk) before any view runs; the test project's
# asgi.py wraps the application in django_bff.asgi.RequestBodyLimitMiddleware,
# which answers 413 before Django reads a body announced too large, and cuts a
# body without Content-Length at the limit. These tests pin what each server reads.

OVER = 11 * MiB
CHECKPOINT = 6 * MiB  # where the client pauses to look for the spooled body
SPOOL_SEEN = 4 * MiB


def _look_for_spool(served: Served) -> int:
    """The size of the body spooled to disk by the serving process, given a moment to appear."""
    deadline = time.monotonic() + (3.0 if served.kind.startswith("uvicorn") else 0.3)
    size = spooled_bytes(served.pid, tempfile.gettempdir())
    while size < SPOOL_SEEN and time.monotonic() < deadline:
        time.sleep(0.02)
        size = spooled_bytes(served.pid, tempfile.gettempdir())
    return size


def _pin_what_was_read(served: Served, sent: int, spooled: int | None, label: str, cut: bool = False) -> None:
    """Refused before reading: the client could not send it all. ``cut``: read up to the limit, then refused."""
    print(f"\n[{served.kind}] {label}: client sent {sent / MiB:.2f} of {OVER / MiB:.0f} MiB, spooled seen: {spooled}")
    if not cut:
        assert sent < OVER, "the server read the whole over-limit body"
        assert not spooled, spooled
    assert not spooled or spooled <= DEFAULT_LIMIT, spooled


def test_chunked_upload_is_refused_with_411(served_default_limit: Served) -> None:
    """A generator body goes out with Transfer-Encoding: chunked and no Content-Length.

    gunicorn: the proxy answers 411 at once. uvicorn: Django's handler reads the
    body first; the middleware counts it and cuts it with 413 at the limit (11 MiB
    sent, 10 MiB allowed), so at most the limit is ever spooled.
    """
    served = served_default_limit
    served.upstream.clear()
    piece = 256 * 1024
    sent = 0
    spooled: int | None = None

    def body() -> Iterator[bytes]:
        nonlocal sent, spooled
        for _ in range(OVER // piece):
            yield b"z" * piece
            sent += piece  # resumed: the piece went out
            if sent == CHECKPOINT:
                spooled = _look_for_spool(served)

    with requests.post(f"{served.url}/api/up/upload", data=body(), headers=HEADERS, timeout=TIMEOUT) as response:
        status = response.status_code
        payload = response.json()
    expected = (411, "length_required") if served.kind == "gunicorn" else (413, "request_body_too_large")
    assert (status, payload) == (expected[0], {"error": expected[1]}), served.server.output()
    assert served.upstream.requests == []
    _pin_what_was_read(served, sent, spooled, "chunked upload", cut=served.kind.startswith("uvicorn"))


# --- 3. server-sent events -----------------------------------------------------------------


def test_server_sent_events_flow_one_by_one(served: Served) -> None:
    events, interval = 5, 0.4
    arrivals: list[tuple[float, bytes]] = []
    buffer = b""
    started = time.monotonic()
    with requests.get(
        f"{served.url}/api/up/sse",
        params={"events": events, "interval": interval},
        headers=HEADERS,
        stream=True,
        timeout=(5, 10),
    ) as response:
        status = response.status_code
        content_type = response.headers.get("Content-Type")
        for chunk in response.iter_content(chunk_size=None):
            now = time.monotonic() - started
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                if event.startswith(b"data:"):
                    arrivals.append((now, event))
    total = time.monotonic() - started

    times = [round(t, 3) for t, _ in arrivals]
    print(f"\n[{served.kind}] sse: events at {times} s, stream ended at {total:.3f} s")
    assert status == 200, served.server.output()
    assert content_type == "text/event-stream"
    assert len(arrivals) == events, arrivals
    assert all(e.startswith(f"data: event {n} at ".encode()) for n, (_, e) in enumerate(arrivals)), arrivals
    assert buffer == b""
    # Not buffered: the first event long before the end, and the events spread out.
    assert arrivals[0][0] < 1.0 and total >= 1.6, (times, total)
    assert arrivals[-1][0] - arrivals[0][0] >= (events - 1) * interval * 0.75, times


# --- 4. 413 --------------------------------------------------------------------------------


def test_body_over_the_default_limit_is_refused_with_413(served_default_limit: Served) -> None:
    served = served_default_limit
    served.upstream.clear()
    body = _PausingBody(OVER, CHECKPOINT, lambda: _look_for_spool(served))
    with requests.post(f"{served.url}/api/up/upload", data=body, headers=HEADERS, timeout=TIMEOUT) as response:
        status = response.status_code
        payload = response.json()
    assert status == 413, (payload, served.server.output())
    assert payload == {"error": "request_body_too_large"}
    assert served.upstream.requests == []
    _pin_what_was_read(served, body.position, body.spooled, "over-limit upload")

    # Exactly at the limit goes through, one byte more does not.
    with requests.Session() as http:
        for size in (DEFAULT_LIMIT, DEFAULT_LIMIT + 1):
            with http.post(f"{served.url}/api/up/upload", data=UploadBody(size), headers=HEADERS, timeout=TIMEOUT) as r:
                assert r.status_code == (200 if size == DEFAULT_LIMIT else 413), (size, r.text)
    assert [r["body_length"] for r in served.upstream.requests] == [DEFAULT_LIMIT]
