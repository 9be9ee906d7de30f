"""Start the test project under a real server (gunicorn or uvicorn) on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent.parent

COMMANDS = {
    # gthread: the worker class a Django deployment uses for streaming and slow upstreams.
    "gunicorn": lambda port, workers: [
        sys.executable,
        "-m",
        "gunicorn",
        "tests.wsgi:application",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "8",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "120",
    ],
    "gunicorn-sync": lambda port, workers: [
        sys.executable,
        "-m",
        "gunicorn",
        "tests.wsgi:application",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "120",
    ],
    "uvicorn": lambda port, workers: [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.asgi:application",
        "--workers",
        str(workers),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ],
}


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def serve(kind: str, env: dict[str, str] | None = None, workers: int = 1, port: int | None = None) -> Iterator[Server]:
    """Run ``tests.settings`` under ``kind`` with extra environment ``env``; yields the server."""
    port = port or free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="bff-server-"))
    log_path = log_dir / f"{kind}.log"
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        # The tests make tokens expire by rewriting the store from outside the workers (see tests/settings.py).
        "BFF_TEST_TOKEN_MEMORY_TTL": "0",
        **(env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(COMMANDS[kind](port, workers), cwd=ROOT, env=full_env, stdout=log, stderr=log)
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(server.url + "/__nothing__", timeout=10)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{kind} did not start:\n{server.output()}") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
