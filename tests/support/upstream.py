"""A programmable upstream API for proxy tests: a real HTTP/1.1 server on loopback.

Every request is recorded (method, raw path, query, headers, body digest and
length). Paths pick a behaviour (anything below any prefix works, so a target
like ``{url}/v1/`` is fine):

* ``.../status/<code>``: answers that status with a JSON body;
* ``.../cookie``: answers with ``Set-Cookie`` headers;
* ``.../redirect``: 302 to another host;
* ``.../hop``: answers with hop-by-hop headers and ``Connection: X-Private``;
* ``.../slow?seconds=N``: waits before answering;
* ``.../sse?events=N&interval=S``: server-sent events, one chunk per event;
* ``.../download?size=N``: N bytes of a repeating pattern (Content-Length set);
* ``.../gzip``: a gzip-encoded body with Content-Encoding: gzip;
* ``.../dpop-nonce``: 401 ``use_dpop_nonce`` until the DPoP proof carries the nonce;
* ``.../headers?Name=value&...``: 200 with each query parameter as a response
  header (``Content-Type`` only if given), body ``ok``;
* anything else: echoes what it received as JSON (the upload is hashed, not kept).

:class:`RawUpstream` is the other kind: it answers bytes of the test's choosing
on a raw socket, for answers no HTTP server library would send (invalid header
lines, control characters, a stream that falls silent), and tells when the
proxy closes its connection.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

PATTERN = bytes(range(256)) * 256  # 64 KiB


def pattern_bytes(size: int) -> bytes:
    """The first ``size`` bytes of the download pattern (for small sizes)."""
    whole, rest = divmod(size, len(PATTERN))
    return PATTERN * whole + PATTERN[:rest]


def pattern_sha256(size: int) -> str:
    digest = hashlib.sha256()
    remaining = size
    while remaining:
        piece = PATTERN[: min(len(PATTERN), remaining)]
        digest.update(piece)
        remaining -= len(piece)
    return digest.hexdigest()


class Upstream:
    NONCE = "server-nonce-1"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Upstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    @property
    def last(self) -> dict[str, Any]:
        with self._lock:
            return self.requests[-1]


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK add 40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _read_body(self) -> tuple[int, str]:
            digest = hashlib.sha256()
            length = int(self.headers.get("Content-Length") or 0)
            total = 0
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    data = self.rfile.read(size)
                    digest.update(data)
                    total += len(data)
                    self.rfile.readline()
                return total, digest.hexdigest()
            while total < length:
                data = self.rfile.read(min(1 << 20, length - total))
                if not data:
                    break
                digest.update(data)
                total += len(data)
            return total, digest.hexdigest()

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            length, sha = self._read_body()
            entry = {
                "method": self.command,
                "raw_path": parts.path,
                "query": parts.query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "header_list": list(self.headers.items()),
                "body_length": length,
                "body_sha256": sha,
            }
            upstream.record(entry)
            path = parts.path
            if "/status/" in path:
                code = int(path.rsplit("/status/", 1)[1].split("/")[0])
                extra = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if code == 401 else {}
                return self._json(code, {"status": code}, extra)
            if path.endswith("/cookie"):
                self.send_response(200)
                self.send_header("Set-Cookie", "upstream=1; Path=/")
                self.send_header("Set-Cookie", "other=2; Path=/")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                return None
            if path.endswith("/redirect"):
                return self._send(302, b"", {"Location": "http://evil.example/steal"})
            if path.endswith("/hop"):
                return self._send(
                    200,
                    b"hop",
                    {
                        "Connection": "X-Private, keep-alive",
                        "X-Private": "secret",
                        "Keep-Alive": "timeout=5",
                        "Proxy-Authenticate": "Basic",
                        "X-Public": "yes",
                    },
                )
            if path.endswith("/slow"):
                time.sleep(float(query.get("seconds", ["2"])[0]))
                return self._json(200, {"slow": True})
            if path.endswith("/sse"):
                events = int(query.get("events", ["3"])[0])
                interval = float(query.get("interval", ["0.5"])[0])
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for n in range(events):
                    data = f"data: event {n} at {time.time():.3f}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                    time.sleep(interval)
                self.wfile.write(b"0\r\n\r\n")
                return None
            if path.endswith("/download"):
                size = int(query.get("size", ["1024"])[0])
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                remaining = size
                while remaining:
                    piece = PATTERN[: min(len(PATTERN), remaining)]
                    self.wfile.write(piece)
                    remaining -= len(piece)
                return None
            if path.endswith("/gzip"):
                return self._send(
                    200, gzip.compress(b"compressed hello"), {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
                )
            if path.endswith("/headers"):
                self.send_response(200)
                for name, values in query.items():
                    for value in values:
                        self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(b"ok")
                return None
            if path.endswith("/dpop-nonce"):
                proof = self.headers.get("DPoP", "")
                claims = jwt.decode(proof, options={"verify_signature": False}) if proof else {}
                if claims.get("nonce") != Upstream.NONCE:
                    return self._json(
                        401,
                        {"error": "use_dpop_nonce"},
                        {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": Upstream.NONCE},
                    )
                return self._json(200, {"nonce": True})
            return self._json(200, {k: v for k, v in entry.items() if k != "header_list"})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    return Handler


class RawUpstream:
    """An upstream that answers raw bytes chosen by the test, and reports closed connections.

    ``answer(name, raw)``: a request whose path ends with ``/name`` gets ``raw``
    byte for byte (anything else: 404). Connections are kept open after an
    answer, as a keep-alive server's are, and further requests on them are
    answered too; when the proxy closes a connection, the event
    ``closed(name)`` of the last name answered on it is set. ``requests`` lists
    the names asked for, in order.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.answers: dict[str, bytes] = {}
        self.requests: list[str] = []
        self._closed: dict[str, threading.Event] = {}
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def answer(self, name: str, raw: bytes) -> None:
        with self._lock:
            self.answers[name] = raw
            self._closed[name] = threading.Event()

    def closed(self, name: str) -> threading.Event:
        with self._lock:
            return self._closed[name]

    def start(self) -> RawUpstream:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def __enter__(self) -> RawUpstream:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        last: str | None = None
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")
                last = urlsplit(target).path.rsplit("/", 1)[-1]
                with self._lock:
                    self.requests.append(last)
                    raw = self.answers.get(last)
                conn.sendall(raw if raw is not None else b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            return
        finally:
            conn.close()
            if last is not None:
                with self._lock:
                    event = self._closed.get(last)
                if event is not None:
                    event.set()
