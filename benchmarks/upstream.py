"""The benchmark upstream: a tiny WSGI app answering every GET with 1 KiB.

``?work_ms=N`` sleeps N milliseconds first (the "work" an API does). The
``X-Bench-Auth`` response header says whether the request carried the
benchmark's bearer token, so ``run.py`` can prove the BFF path really sent it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

BODY = (b'{"data":"' + b"x" * 1013 + b'"}')[:1024]
assert len(BODY) == 1024
BENCH_TOKEN = "bench-token"
_EXPECTED_AUTH = f"Bearer {BENCH_TOKEN}"


CHUNK = b"x" * (64 * 1024)


def _big(size: int) -> Iterable[bytes]:
    remaining = size
    while remaining > 0:
        piece = CHUNK[: min(len(CHUNK), remaining)]
        remaining -= len(piece)
        yield piece


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    query = environ.get("QUERY_STRING", "")
    if environ.get("PATH_INFO", "").endswith("/big"):
        # stream.py: ``GET .../big?size=N`` streams N bytes; ``POST .../big`` reads the body and says how much.
        if environ["REQUEST_METHOD"] == "POST":
            stream, total = environ["wsgi.input"], 0
            while True:
                data = stream.read(1024 * 1024)
                if not data:
                    break
                total += len(data)
            answer = str(total).encode()
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
            return [answer]
        size = int(parse_qs(query).get("size", ["0"])[0])
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return _big(size)
    if query:
        try:
            work_ms = float(parse_qs(query).get("work_ms", ["0"])[0])
        except ValueError:
            work_ms = 0.0
        if work_ms > 0:
            time.sleep(min(work_ms, 1000.0) / 1000.0)
    auth = "bearer" if environ.get("HTTP_AUTHORIZATION") == _EXPECTED_AUTH else "none"
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(BODY))),
            ("X-Bench-Auth", auth),
        ],
    )
    return [BODY]
