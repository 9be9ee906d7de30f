"""A real PostgreSQL on a free loopback port, for the database tests run with ``pytest --postgres``.

The server is Debian's ``postgresql`` (``apt-get install postgresql``; its
binaries live in ``/usr/lib/postgresql/<version>/bin``, off ``PATH``), or the
first ``initdb`` on ``PATH`` elsewhere. Each start makes a new cluster in a
temporary directory: ``initdb`` with trust authentication for the superuser
``bff``, then ``postgres`` listening on ``127.0.0.1`` only, its unix socket in
that directory, durability off (``fsync``, ``synchronous_commit`` and
``full_page_writes``: a test cluster is thrown away). :meth:`stop` shuts it
down and removes the directory.

PostgreSQL refuses to run as root. As root (CI), ``initdb`` and ``postgres``
run as Debian's ``postgres`` system user (created by the package), or as
``nobody`` where there is none, through ``setpriv``; the temporary directory is
handed to that user. As any other user they simply run as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any

from tests.support import real_parts
from tests.support.redis_server import free_port

SUPERUSER = "bff"
#: Where worker processes started by the tests find the server (``host:port``); read by tests/settings.py.
ENV_ADDRESS = "BFF_TEST_POSTGRES"


def django_database(address: str, name: str) -> dict[str, Any]:
    """``DATABASES["default"]`` entries for the server at ``address`` (``host:port``)."""
    host, port = address.rsplit(":", 1)
    return {"ENGINE": "django.db.backends.postgresql", "HOST": host, "PORT": port, "USER": SUPERUSER, "NAME": name}


def find_bindir() -> str:
    """The directory holding ``initdb`` and ``postgres``: PATH first, then Debian's newest version."""
    on_path = shutil.which("initdb")
    if on_path:
        return os.path.dirname(os.path.realpath(on_path))

    def version(path: str) -> tuple[int, ...]:
        found = re.search(r"/postgresql/([\d.]+)/bin", path)
        return tuple(int(p) for p in found.group(1).split(".") if p) if found else ()

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return os.path.dirname(candidates[0])


def _run_as() -> tuple[list[str], int, int] | None:
    """As root: the command prefix that drops to an unprivileged user, and that user's uid and gid."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        prefix = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", "--"]
        return prefix, entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root, and there is neither a postgres nor a nobody user to run PostgreSQL as")


class PostgresServer:
    def __init__(self) -> None:
        self.port = 0
        self.host = "127.0.0.1"
        self.process: subprocess.Popen[bytes] | None = None
        self.dir = tempfile.mkdtemp(prefix="bff-postgres-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def output(self) -> str:
        try:
            with open(self.log, errors="replace") as log:
                return log.read()[-4000:]
        except OSError:
            return ""

    def start(self) -> PostgresServer:
        real_parts.require("PostgreSQL")
        bindir = find_bindir()
        run_as = _run_as()
        prefix: list[str] = []
        if run_as is not None:
            prefix, uid, gid = run_as
            os.chown(self.dir, uid, gid)
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        try:
            with open(self.log, "wb") as log:
                subprocess.run(
                    [
                        *prefix,
                        os.path.join(bindir, "initdb"),
                        "--pgdata",
                        self.data,
                        "--username",
                        SUPERUSER,
                        "--auth",
                        "trust",
                        "--encoding",
                        "UTF8",
                        "--no-locale",
                        "--no-sync",
                    ],
                    cwd=self.dir,
                    env=env,
                    stdout=log,
                    stderr=log,
                    check=True,
                )
        except subprocess.CalledProcessError:
            output = self.output()
            self.stop()
            raise RuntimeError(f"initdb failed:\n{output}") from None
        self.port = free_port()
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": self.dir,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "32MB",
            "dynamic_shared_memory_type": "mmap",
        }
        options = [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [*prefix, os.path.join(bindir, "postgres"), "-D", self.data, *options],
                cwd=self.dir,
                env=env,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._ready():
                return self
            time.sleep(0.1)
        output = self.output()
        self.stop()
        raise RuntimeError(f"postgres did not start:\n{output}")

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, dbname="postgres", connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: ends open sessions
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)
