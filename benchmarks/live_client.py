"""The clients of B4 (``live.py``), each in a process of its own, on asyncio.

    python -m benchmarks.live_client sse --port P --path /live/events --cookie C ...
    python -m benchmarks.live_client echo --url ws://... [--cookie C --origin O | --token T]
    python -m benchmarks.live_client idle --url ws://... --cookie C --origin O --sockets 1000

``sse``: opens ``--streams`` event streams (at most ``--connect-concurrency``
handshakes in flight), each ``GET PATH?id=N&period=S`` with the session cookie
and ``X-CSRF: 1`` over a raw socket; a stream is established when its answer is
200 with ``X-Bench-Auth: bearer`` and the upstream's first comment has arrived.
Prints one JSON line when every stream is established or failed, or at
``--establish-timeout``; then reads on until ``stop`` arrives on stdin (or
``--max-seconds``), and writes to ``--out`` every event received as
``[id, seq, sent, received]`` (both ``time.monotonic()``) with the counts.

``echo``: one WebSocket, ``--warmup`` then ``--messages`` round trips of a
``--size``-byte text message, one at a time; prints the round trips (µs) as
JSON.

``idle``: opens ``--sockets`` WebSockets (``--connect-concurrency`` at a time),
checks each with one echo, prints one JSON line, holds them all, quiet, until
``stop`` on stdin, then closes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

HOST = "127.0.0.1"


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _wait_for_stop(max_seconds: float) -> None:
    """Until ``stop`` (or the end of stdin) arrives, at most ``max_seconds``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        await asyncio.wait_for(reader.readline(), max_seconds)
    except TimeoutError:
        pass


# --- server-sent events --------------------------------------------------------------------------


class Stream:
    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.status: int | str | None = None
        self.established = asyncio.Event()
        self.failed = False
        self.events: list[tuple[int, int, float, float]] = []
        self.ended = False


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ")[1])
    headers = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _body_pieces(reader: asyncio.StreamReader, chunked: bool) -> Any:
    """The body as it arrives: chunk by chunk when chunked, else read by read until the end."""
    if not chunked:
        while data := await reader.read(65536):
            yield data
        return
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


async def run_stream(stream: Stream, args: argparse.Namespace, gate: asyncio.Semaphore) -> None:
    writer: asyncio.StreamWriter | None = None
    try:
        async with gate:
            reader, writer = await asyncio.open_connection(HOST, args.port, limit=1 << 20)
            writer.write(
                (
                    f"GET {args.path}?id={stream.id}&period={args.period} HTTP/1.1\r\nHost: {HOST}:{args.port}\r\n"
                    f"Cookie: {args.cookie}\r\nX-CSRF: 1\r\nAccept: text/event-stream\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            status, headers = await _read_head(reader)
            stream.status = status
            if status != 200 or headers.get("x-bench-auth") != "bearer":
                stream.failed = True
                stream.status = f"{status} auth={headers.get('x-bench-auth')}"
                return
            chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            pieces = _body_pieces(reader, chunked)
            buffer = b""
            while b"\n\n" not in buffer:  # the upstream's ": ok" comment: the whole path carries bytes
                buffer += await pieces.__anext__()
            buffer = buffer.split(b"\n\n", 1)[1]
            stream.established.set()
        async for piece in pieces:
            received = time.monotonic()
            buffer += piece
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if line.startswith(b"data: "):
                        sid, seq, sent = line[6:].split(b" ")
                        stream.events.append((int(sid), int(seq), float(sent), received))
        stream.ended = True
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, StopAsyncIteration, ValueError) as e:
        if not stream.established.is_set():
            stream.failed = True
            stream.status = f"{stream.status} {type(e).__name__}"
        stream.ended = True
    finally:
        if writer is not None:
            writer.close()


async def sse(args: argparse.Namespace) -> None:
    gate = asyncio.Semaphore(args.connect_concurrency)
    streams = [Stream(args.first_id + i) for i in range(args.streams)]
    started = time.monotonic()
    tasks = [asyncio.ensure_future(run_stream(s, args, gate)) for s in streams]
    deadline = started + args.establish_timeout
    while time.monotonic() < deadline:
        if all(s.established.is_set() or s.failed for s in streams):
            break
        await asyncio.sleep(0.05)
    established = sum(s.established.is_set() for s in streams)
    statuses: dict[str, int] = {}
    for s in streams:
        if s.failed:
            statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    print(
        json.dumps(
            {
                "established": established,
                "failed": sum(s.failed for s in streams),
                "pending": len(streams) - established - sum(s.failed for s in streams),
                "failures": statuses,
                "seconds": round(time.monotonic() - started, 3),
            }
        ),
        flush=True,
    )
    await _wait_for_stop(args.max_seconds)
    result = {
        "streams": len(streams),
        "established_at_end": sum(s.established.is_set() for s in streams),
        "ended_early": sum(s.ended and s.established.is_set() for s in streams),
        "events": [e for s in streams for e in s.events],
    }
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    Path(args.out).write_text(json.dumps(result))


# --- WebSockets -----------------------------------------------------------------------------------


def _ws_options(args: argparse.Namespace) -> dict[str, Any]:
    headers = {}
    if args.cookie:
        headers["Cookie"] = args.cookie
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    return {
        "additional_headers": headers,
        "origin": args.origin or None,
        "open_timeout": 30,
        "max_queue": 4,
        "compression": None if args.no_deflate else "deflate",
    }


async def echo(args: argparse.Namespace) -> None:
    message = "x" * args.size
    times: list[float] = []
    async with connect(args.url, **_ws_options(args)) as ws:
        for i in range(args.warmup + args.messages):
            started = time.perf_counter()
            await ws.send(message)
            answer = await asyncio.wait_for(ws.recv(), 10)
            elapsed = time.perf_counter() - started
            if answer != message:
                raise RuntimeError(f"echo answered {str(answer)[:80]!r}")
            if i >= args.warmup:
                times.append(elapsed * 1e6)
    print(json.dumps({"round_trips_us": [round(t, 1) for t in times]}), flush=True)


async def idle(args: argparse.Namespace) -> None:
    gate = asyncio.Semaphore(args.connect_concurrency)
    sockets: list[ClientConnection] = []
    failures: dict[str, int] = {}

    async def open_one() -> None:
        async with gate:
            try:
                ws = await connect(args.url, **_ws_options(args))
                await ws.send("hello")
                if await asyncio.wait_for(ws.recv(), 30) != "hello":
                    raise RuntimeError("wrong echo")
                sockets.append(ws)
            except InvalidStatus as e:
                key = f"status {e.response.status_code}"
                failures[key] = failures.get(key, 0) + 1
            except (OSError, RuntimeError, TimeoutError, Exception) as e:  # noqa: BLE001 - counted, reported
                failures[type(e).__name__] = failures.get(type(e).__name__, 0) + 1

    started = time.monotonic()
    tasks = [asyncio.ensure_future(open_one()) for _ in range(args.sockets)]
    _done, pending = await asyncio.wait(tasks, timeout=args.establish_timeout)
    for task in pending:
        task.cancel()
    if pending:
        failures["not open at --establish-timeout"] = len(pending)
    opened = len(sockets)
    print(
        json.dumps({"opened": opened, "failures": failures, "seconds": round(time.monotonic() - started, 3)}),
        flush=True,
    )
    await _wait_for_stop(args.max_seconds)
    alive = sum(1 for ws in sockets if ws.state.name == "OPEN")
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    print(json.dumps({"still_open_at_stop": alive}), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sse")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--path", required=True)
    s.add_argument("--cookie", required=True)
    s.add_argument("--streams", type=int, default=500)
    s.add_argument("--first-id", type=int, default=0)
    s.add_argument("--period", type=float, default=5.0)
    s.add_argument("--connect-concurrency", type=int, default=50)
    s.add_argument("--establish-timeout", type=float, default=60.0)
    s.add_argument("--max-seconds", type=float, default=600.0)
    s.add_argument("--out", required=True)
    for name in ("echo", "idle"):
        w = sub.add_parser(name)
        w.add_argument("--url", required=True)
        w.add_argument("--cookie", default="")
        w.add_argument("--origin", default="")
        w.add_argument("--token", default="")
        w.add_argument("--no-deflate", action="store_true", help="offer no permessage-deflate")
        if name == "echo":
            w.add_argument("--messages", type=int, default=2000)
            w.add_argument("--warmup", type=int, default=200)
            w.add_argument("--size", type=int, default=32)
        else:
            w.add_argument("--sockets", type=int, default=1000)
            w.add_argument("--connect-concurrency", type=int, default=50)
            w.add_argument("--establish-timeout", type=float, default=120.0)
            w.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    _raise_fd_limit()
    command = {"sse": sse, "echo": echo, "idle": idle}[args.command]
    asyncio.run(command(args))


if __name__ == "__main__":
    main()
