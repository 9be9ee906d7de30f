"""A token service that misbehaves on the wire: trickles its answer, or sends far too much.

A raw socket server in a thread, on a free loopback port. Every connection reads
the request (headers and a Content-Length body), then answers as ``mode`` says:

* ``"trickle-body"``: status and headers at once, then the body one byte every
  ``interval`` seconds (a provider, or a proxy in front of it, that stalls);
* ``"trickle-head"``: the status line and headers one byte every ``interval``;
* ``"huge-declared"``: ``Content-Length`` of ``size`` bytes, then the body as fast as
  the client reads it;
* ``"huge-chunked"``: the same without a length (chunked), ``size`` bytes in all.

``bytes_sent`` counts body bytes written; ``connections`` the requests received.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator

from tests.support.redis_server import free_port

TOKEN_ANSWER = json.dumps(
    {"access_token": "trickled-access-XXXXXXXX", "token_type": "Bearer", "expires_in": 300}
).encode()


class MisbehavingServer:
    def __init__(self, mode: str, *, interval: float = 0.2, size: int = 0, body: bytes = TOKEN_ANSWER) -> None:
        self.mode = mode
        self.interval = interval
        self.size = size
        self.body = body
        self.port = free_port()
        self.connections = 0
        self.bytes_sent = 0
        self.finished = threading.Event()  # set when an answer was written completely
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            rest += chunk

    def _slowly(self, conn: socket.socket, data: bytes, count_body: bool) -> None:
        for i in range(len(data)):
            if self._stop.wait(self.interval):
                return
            conn.sendall(data[i : i + 1])
            if count_body:
                self.bytes_sent += 1

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                self._read_request(conn)
                self.connections += 1
                if self.mode == "trickle-body":
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    conn.sendall(head + f"Content-Length: {len(self.body)}\r\n\r\n".encode())
                    self._slowly(conn, self.body, True)
                elif self.mode == "trickle-head":
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    head += f"Content-Length: {len(self.body)}\r\n\r\n".encode()
                    self._slowly(conn, head, False)
                    conn.sendall(self.body)
                elif self.mode in ("huge-declared", "huge-chunked"):
                    chunked = self.mode == "huge-chunked"
                    length = b"Transfer-Encoding: chunked" if chunked else f"Content-Length: {self.size}".encode()
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + length + b"\r\n\r\n")
                    block = b"x" * 65536
                    while self.bytes_sent < self.size and not self._stop.is_set():
                        piece = block[: self.size - self.bytes_sent]
                        conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                        self.bytes_sent += len(piece)
                    if chunked:
                        conn.sendall(b"0\r\n\r\n")
                else:  # pragma: no cover - a typo in a test
                    raise ValueError(self.mode)
                self.finished.set()
            except OSError:
                pass  # the client went away: what the tests want to see

    def start(self) -> MisbehavingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)


@contextlib.contextmanager
def misbehaving(mode: str, **options: object) -> Iterator[MisbehavingServer]:
    server = MisbehavingServer(mode, **options).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
