"""The upstream of B4 (``live.py``): server-sent events and a WebSocket echo, on asyncio, in one process.

    python -m benchmarks.live_upstream --http-port P --ws-port Q

HTTP (``asyncio.start_server``, HTTP/1.1 by hand, one request per connection):

* ``GET /events?id=N&period=S``: an event stream (chunked). A ``: ok`` comment
  at once, then one event every ``period`` seconds (5) at the stream's own
  offset (``id`` times the golden ratio, modulo the period), so that the
  streams are quiet between events and the total rate is streams / period.
  Each event is ``id: SEQ`` and ``data: ID SEQ T`` with ``T`` the
  ``time.monotonic()`` taken just before the write (``CLOCK_MONOTONIC`` is one
  clock for every process of the machine). ``once=1``: one event, then the end.
* ``GET /stats?from=T0&to=T1``: JSON: the streams open now, the streams
  opened, the requests refused, and every event sent between the two times as
  ``[id, seq, t]``.
* ``GET /ready``: 200.

Every ``/events`` request must carry ``Authorization: Bearer bench-token`` (else
401): a stream that answers 200 through the BFF proves the BFF sent the user's
token. The answer says so too (``X-Bench-Auth: bearer``).

WebSocket (the ``websockets`` library's asyncio server): every message is sent
back as it came; the handshake is refused 401 without the same bearer token.
permessage-deflate is accepted (the library's default) unless ``--no-deflate``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

HOST = "127.0.0.1"
EXPECTED_AUTH = "Bearer bench-token"
GOLDEN = 0.6180339887498949


class Upstream:
    def __init__(self) -> None:
        self.open_streams = 0
        self.opened = 0
        self.refused = 0
        self.events: list[tuple[int, int, float]] = []
        self.ws_open = 0
        self.ws_opened = 0

    # --- HTTP -------------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = (lines[0].split(" ") + ["", ""])[:3]
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if url.path.endswith("/events") and method == "GET":
                if headers.get("authorization") != EXPECTED_AUTH:
                    self.refused += 1
                    await self._answer(writer, 401, b'{"error": "no token"}')
                else:
                    await self._stream(reader, writer, query)
            elif url.path == "/stats":
                low, high = float(query.get("from", "0")), float(query.get("to", "inf"))
                stats = {
                    "open_streams": self.open_streams,
                    "streams_opened": self.opened,
                    "refused": self.refused,
                    "ws_open": self.ws_open,
                    "ws_opened": self.ws_opened,
                    "events": [e for e in self.events if low <= e[2] <= high],
                }
                await self._answer(writer, 200, json.dumps(stats).encode())
            elif url.path == "/ready":
                await self._answer(writer, 200, b"{}")
            else:
                await self._answer(writer, 404, b"{}")
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
        reason = HTTPStatus(status).phrase
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, query: dict[str, str]) -> None:
        stream_id = int(query.get("id", "0"))
        period = float(query.get("period", "5"))
        once = query.get("once") == "1"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"X-Bench-Auth: bearer\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunk(b": ok\n\n")
        )
        await writer.drain()
        self.open_streams += 1
        self.opened += 1
        gone = asyncio.ensure_future(reader.read(1))  # the client (the BFF) leaving ends the stream
        try:
            start = time.monotonic() + (0.0 if once else (stream_id * GOLDEN) % 1.0 * period)
            seq = 0
            while True:
                delay = start + seq * period - time.monotonic()
                if delay > 0:
                    await asyncio.wait([gone], timeout=delay)
                if gone.done():
                    return
                sent = time.monotonic()
                writer.write(_chunk(f"id: {seq}\ndata: {stream_id} {seq} {sent:.6f}\n\n".encode()))
                self.events.append((stream_id, seq, sent))
                await writer.drain()
                seq += 1
                if once:
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                    return
        finally:
            self.open_streams -= 1
            gone.cancel()

    # --- WebSocket --------------------------------------------------------------------------

    def check_ws(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Authorization") != EXPECTED_AUTH:
            self.refused += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, "no token\n")
        return None

    async def echo(self, connection: ServerConnection) -> None:
        self.ws_open += 1
        self.ws_opened += 1
        try:
            async for message in connection:
                await connection.send(message)
        except Exception:  # noqa: BLE001 - a client gone mid-message: nothing to echo to
            pass
        finally:
            self.ws_open -= 1


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def main_async(http_port: int, ws_port: int, deflate: bool) -> None:
    upstream = Upstream()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    http = await asyncio.start_server(upstream.handle, HOST, http_port, backlog=4096)
    ws: Server = await serve(
        upstream.echo,
        HOST,
        ws_port,
        process_request=upstream.check_ws,
        backlog=4096,
        compression="deflate" if deflate else None,
    )
    print(f"ready http={http_port} ws={ws_port}", flush=True)
    await stop.wait()
    http.close()
    ws.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--ws-port", type=int, required=True)
    parser.add_argument("--no-deflate", action="store_true", help="accept no permessage-deflate")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main_async(args.http_port, args.ws_port, not args.no_deflate))


if __name__ == "__main__":
    main()
