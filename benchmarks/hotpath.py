"""What one proxied call costs inside Django, and where: in-process, one thread, no load generator.

    .venv/bin/python benchmarks/hotpath.py                 # per-call time of each path, and its I/O
    .venv/bin/python benchmarks/hotpath.py --profile bff   # cProfile of the bff path, top functions

Starts ``redis-server`` and a 1 KiB upstream on loopback, sets up the benchmark
project (``benchmarks.project.settings``: Redis cache sessions and
``CacheTokenStore``; ``--db-sessions`` for the default configuration, database
sessions and ``SessionTokenStore``), logs a user in, then calls Django's WSGI
handler directly, as gunicorn would, ``--calls`` times per path:

* ``null``: a view that returns 1 KiB, through the same middleware (N);
* ``null-session``: the same view reading the session, the user and the token (NS);
* ``revproxy``: django-revproxy, no token (R);
* ``revproxy-session``: django-revproxy with the user's token from the session (RS);
* ``bff``: ``remote_api(..., token_type=USER)``.

It prints the median microseconds per call and, per call, the SQL queries and
Redis commands each path makes. The numbers are CPU on an idle machine: they
say what a path does, not how it behaves under load (that is ``run.py``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BODY = (b'{"data":"' + b"x" * 1013 + b'"}')[:1024]
PATHS = ["null", "null-session", "revproxy", "revproxy-session", "bff"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_redis(tmp: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit("redis-server did not start")


def environ(path: str, cookie: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"/{path}/items",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_COOKIE": cookie,
        "HTTP_X_CSRF": "1",
        "HTTP_ACCEPT": "application/json",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def call(handler: Any, path: str, cookie: str) -> bytes:
    status: list[str] = []
    response = handler(environ(path, cookie), lambda s, h, exc_info=None: status.append(s))
    try:
        body = b"".join(response)
    finally:
        getattr(response, "close", lambda: None)()
    if not status[0].startswith("200"):
        raise SystemExit(f"{path}: {status[0]} {body[:200]!r}")
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--profile", choices=PATHS, help="cProfile this path instead")
    parser.add_argument("--db-sessions", action="store_true", help="database sessions and SessionTokenStore")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="bff-hotpath-")
    redis, redis_port = start_redis(tmp)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="benchmarks.project.settings",
            BENCH_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            BENCH_DB=os.path.join(tmp, "bench.sqlite3"),
            BENCH_UPSTREAM=f"http://127.0.0.1:{server.server_address[1]}",
            BENCH_CONN_MAX_AGE="0",
        )
        if args.db_sessions:
            os.environ["BENCH_DB_SESSIONS"] = "1"
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        from django_redis import get_redis_connection

        from benchmarks.project.setup_session import make_session

        cookie_name, session_key = make_session()
        cookie = f"{cookie_name}={session_key}"
        handler = WSGIHandler()
        redis_client = get_redis_connection("default")

        def redis_calls() -> int:
            return int(redis_client.info("stats")["total_commands_processed"])

        paths = [args.profile] if args.profile else PATHS
        for path in paths:  # warm up, and prove each path answers
            for _ in range(200):
                call(handler, path, cookie)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.calls):
                call(handler, args.profile, cookie)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
            stats.print_stats(args.top)
            out.write("\n--- by own time ---\n")
            stats.sort_stats("tottime").print_stats(args.top)
            print(out.getvalue())
            return 0
        print(f"{'path':<18} {'us/call':>8} {'SQL':>5} {'Redis':>6}")
        for path in paths:
            times = []
            for _ in range(args.calls):
                started = time.perf_counter()
                call(handler, path, cookie)
                times.append(time.perf_counter() - started)
            before = redis_calls()
            with CaptureQueriesContext(connection) as queries:
                call(handler, path, cookie)
            # INFO itself is one command.
            redis_per_call = redis_calls() - before - 1
            print(f"{path:<18} {1e6 * statistics.median(times):>8.0f} {len(queries):>5} {redis_per_call:>6}")
        return 0
    finally:
        server.shutdown()
        redis.terminate()
        redis.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
