"""The example project as the README starts it (``bash scripts/demo``), and Debian's Chromium to drive it.

Shared by the browser tests of ``tests/e2e/``: :func:`run_demo` starts the demo
command in the background on a free port with its own data directory, polls the
URL it prints as a new user would open it, and stops it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support import real_parts
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
#: Flags for a root user on a machine with no network beyond loopback (and no GPU).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """The path of Debian's Chromium, for Playwright's ``executable_path``."""
    real_parts.require("Chromium")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed: bash scripts/test installs it (apt-get install chromium)")
    return path


@dataclass
class Demo:
    url: str
    port: int
    data_dir: Path
    output: collections.deque[str]

    @property
    def env(self) -> dict[str, str]:
        """The environment of the demo's processes: another ``manage.py`` command run with it sees the same demo."""
        return demo_env(self.port, self.data_dir)

    def db(self) -> contextlib.closing[sqlite3.Connection]:
        """The demo's database (its identity provider's clients and tokens), closed after the ``with`` block."""
        return contextlib.closing(sqlite3.connect(self.data_dir / "demo.sqlite3"))

    def execute(self, sql: str) -> None:
        """Change the demo's database behind its back (as an administrator of the provider would)."""
        with self.db() as db, db:
            db.execute(sql)

    def issued_tokens(self) -> set[str]:
        """Every access and refresh token the demo identity provider has in its database."""
        with self.db() as db:
            access = {row[0] for row in db.execute("select token from oauth2_provider_accesstoken")}
            refresh = {row[0] for row in db.execute("select token from oauth2_provider_refreshtoken")}
        return access | refresh


def handshake_status(url: str, origin: str | None = None) -> int:
    """The HTTP status of a WebSocket handshake to ``url`` (101 when it opens), which a browser never shows."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    from websockets.typing import Origin

    try:
        with connect(url, origin=Origin(origin) if origin else None, proxy=None, open_timeout=10):
            return 101
    except InvalidStatus as refused:
        return int(refused.response.status_code)


def demo_env(port: int, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        # The demo runs in the virtualenv running these tests (.venv, or tox's).
        "VIRTUAL_ENV": str(Path(sys.prefix)),
        "DEMO_PORT": str(port),
        "DEMO_DATA_DIR": str(data_dir),
        **extra,
    }


@contextlib.contextmanager
def background(
    args: list[str], *, cwd: Path, env: dict[str, str], on_line: Callable[[str], None] | None = None
) -> Iterator[tuple[subprocess.Popen[str], collections.deque[str]]]:
    """Run ``args`` in a session of its own, keep the last lines it prints, and stop it (and its children) after."""
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    output: collections.deque[str] = collections.deque(maxlen=400)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            if on_line is not None:
                on_line(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield process, output
    finally:
        stop(process)
        reader.join(10)
        assert process.stdout is not None
        process.stdout.close()


@contextlib.contextmanager
def run_demo(data_dir: Path, *, token_seconds: int) -> Iterator[Demo]:
    """``bash scripts/demo`` in the background, as the README tells a new user to run it."""
    real_parts.require("the demo")
    port = free_port()
    env = demo_env(port, data_dir, DEMO_ACCESS_TOKEN_SECONDS=str(token_seconds))
    printed = threading.Event()
    url: list[str] = []

    def seen(line: str) -> None:
        found = re.search(r"Open (http://127\.0\.0\.1:\d+/) ", line)
        if found and not url:
            url.append(found.group(1))
            printed.set()

    with background(["bash", "scripts/demo"], cwd=ROOT, env=env, on_line=seen) as (process, output):
        # The command installs what it needs first (pip), hence the long wait.
        if not printed.wait(600):
            pytest.fail("the demo command printed no URL:\n" + "\n".join(output))
        assert url[0] == f"http://127.0.0.1:{port}/"
        wait_until_served(url[0], process, output)
        yield Demo(url[0], port, data_dir, output)


def wait_until_served(url: str, process: subprocess.Popen[str], output: collections.deque[str]) -> None:
    """Poll ``url`` until it answers 200; fail (with what the process printed) if it never does."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            pytest.fail(f"nothing answered at {url}:\n" + "\n".join(output))
        time.sleep(0.3)


def stop(process: subprocess.Popen[str]) -> None:
    """Stop a process started with ``start_new_session=True``, and its children."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
