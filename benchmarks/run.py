"""B1, proxy overhead: one command that starts everything, measures, and stops everything.

    .venv/bin/python benchmarks/run.py

Starts on 127.0.0.1 only: redis-server, the upstream (gunicorn serving
``benchmarks/upstream.py``), and the benchmark Django project (gunicorn serving
``benchmarks/project``); migrates an sqlite database in a temporary directory and
makes one logged-in session holding a fresh token. Then, for each repeat and each
upstream work time, it measures the three paths with wrk (a warm-up, then exactly
``--requests`` requests with ``--concurrency`` connections):

* ``direct``: wrk -> upstream;
* ``bff``: wrk -> Django -> django_bff ``remote_api`` route (TokenType.USER) -> upstream;
* ``revproxy``: wrk -> Django -> django-revproxy ``ProxyView`` -> upstream.

Prints a table of medians over the repeats, writes ``benchmarks/results/b1.json``
and ``benchmarks/results/b1.svg``, and stops every process it started. Every wait
is bounded; see ``--help`` for the knobs and benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from benchmarks.report import write_svg  # noqa: E402

PATHS = ("direct", "null", "null-session", "revproxy", "revproxy-session", "bff")
#: The Django project's configurations: the recommended production shape, and django_bff's defaults.
CONFIGS = {
    "production": {},  # Redis cache sessions, CacheTokenStore (benchmarks/project/settings.py)
    "defaults": {"BENCH_DB_SESSIONS": "1"},  # database sessions, SessionTokenStore
}
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0  # seconds for each server to answer
STOP_TIMEOUT = 10.0  # seconds for each server to exit after SIGTERM


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Processes:
    """The servers this run started; stopped in reverse order, by their own pids only."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.started.append((name, proc))
        return proc

    def check_alive(self) -> None:
        for name, proc in self.started:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.logdir / (name + '.log')}")

    def stop(self, name: str) -> None:
        """Stop one server and forget it."""
        for entry in list(self.started):
            if entry[0] == name:
                proc = entry[1]
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=STOP_TIMEOUT)
                self.started.remove(entry)

    def stop_all(self) -> None:
        for _name, proc in reversed(self.started):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in reversed(self.started):
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        self.started.clear()

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_for_redis(port: int, procs: Processes) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("redis-server did not answer PING in time")


def start_redis(procs: Processes, port: int, env: dict[str, str]) -> None:
    """redis-server on ``port``, no persistence, its files in the run's directory; waits for PING."""
    argv = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    procs.start("redis", [*argv, "--dir", str(procs.logdir)], env)
    wait_for_redis(port, procs)


def start_gunicorn(
    procs: Processes, name: str, app: str, port: int, options: list[str], env: dict[str, str], ready: str
) -> subprocess.Popen[bytes]:
    """gunicorn serving ``app`` on ``port`` with ``options``; waits until ``ready`` answers 200."""
    argv = [sys.executable, "-m", "gunicorn", app, "-b", f"{HOST}:{port}", *options]
    process = procs.start(name, argv, env)
    wait_for_http(port, ready, procs)
    return process


def setup_session(env: dict[str, str]) -> str:
    """A logged-in session for the benchmark project (``project/setup_session.py``); its Cookie header."""
    setup = subprocess.run(
        [sys.executable, "-m", "benchmarks.project.setup_session"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if setup.returncode != 0:
        raise RuntimeError(f"session setup failed:\n{setup.stdout}\n{setup.stderr}")
    session = json.loads(setup.stdout.strip().splitlines()[-1])
    return f"{session['cookie_name']}={session['session_key']}"


def bench_env(tmp: Path, redis_port: int, upstream_port: int, **extra: str) -> dict[str, str]:
    """The environment of the benchmark project's processes."""
    return dict(
        os.environ,
        PYTHONPATH=str(REPO),
        DJANGO_SETTINGS_MODULE="benchmarks.project.settings",
        BENCH_REDIS_URL=f"redis://{HOST}:{redis_port}/0",
        BENCH_DB=str(tmp / "bench.sqlite3"),
        BENCH_UPSTREAM=f"http://{HOST}:{upstream_port}",
        **extra,
    )


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_for_http(port: int, path: str, procs: Processes) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last: Exception | str = "no answer"
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            status, _, _ = get(port, path)
            if status == 200:
                return
            last = f"status {status}"
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise RuntimeError(f"127.0.0.1:{port}{path} not ready in time: {last}")


# --- the load generator ---------------------------------------------------------------------


def run_wrk(url: str, n: int, concurrency: int, cookie: str, want_auth: str, timeout: float) -> dict[str, Any]:
    """Exactly ``n`` GETs of ``url`` with ``concurrency`` keep-alive connections (see count.lua)."""
    env = dict(os.environ, BENCH_N=str(n), BENCH_COOKIE=cookie, BENCH_WANT_AUTH=want_auth)
    argv = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{int(timeout)}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "count.lua"),
        url,
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + timeout + 15
        signalled = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
                raise RuntimeError(f"wrk did not finish in time: {''.join(output)}")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                break
            output.append(line)
            if line.strip() == "BENCH_DONE" and not signalled:
                proc.send_signal(signal.SIGINT)  # ends wrk's -d wait; it then prints and runs done()
                signalled = True
        proc.wait(timeout=STOP_TIMEOUT)
        thread.join(timeout=STOP_TIMEOUT)
    finally:
        if proc.poll() is None:  # an error or SIGTERM on our side: wrk must not outlive us
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)

    result_lines = [line for line in output if line.startswith("{")]
    if not result_lines:
        raise RuntimeError(f"wrk printed no result:\n{''.join(output)}")
    result: dict[str, Any] = json.loads(result_lines[-1])
    errors = sum(result["errors"].values())
    if result["received"] != n or result["non_200"] or result["bad_auth"] or errors:
        raise RuntimeError(f"bad run of {url}: {result}\n{''.join(output)}")
    latency = result["latency_us"]
    return {
        "requests": result["received"],
        "elapsed_s": result["elapsed_us"] / 1e6,
        "rps": result["received"] / (result["elapsed_us"] / 1e6),
        "p50_ms": latency["p50"] / 1000,
        "p90_ms": latency["p90"] / 1000,
        "p99_ms": latency["p99"] / 1000,
        "mean_ms": latency["mean"] / 1000,
        "max_ms": latency["max"] / 1000,
    }


def connection_split(port: int) -> list[int] | None:
    """How many established connections to ``port`` each server process holds, most first (needs ``ss``)."""
    try:
        out = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def sample_split_later(port: int, delay: float, into: list[list[int] | None]) -> threading.Thread:
    def sample() -> None:
        time.sleep(delay)
        into.append(connection_split(port))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return thread


# --- the environment the numbers came from ------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command_output(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "unknown"


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib: float | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    commit = _command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    try:
        status = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        status = ""
    dirty = bool(status.strip())
    return {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": _version("Django"),
        "gunicorn": _version("gunicorn"),
        "django-bff": _version("django-bff"),
        "django-revproxy": _version("django-revproxy"),
        "django-redis": _version("django-redis"),
        "requests": _version("requests"),
        "urllib3": _version("urllib3"),
        "redis_server": _command_output(["redis-server", "--version"]),
        "wrk": _command_output(["wrk", "-v"]),
        "git_commit": commit + ("+dirty" if dirty else ""),
    }


# --- Redis commands ---------------------------------------------------------------------------------

_REDIS_WRITES = frozenset({"set", "setex", "psetex", "setnx", "del", "unlink", "expire", "pexpire", "incr", "eval"})


def redis_commands(port: int) -> dict[str, int]:
    """Redis's own count of the commands it ran, by name (INFO commandstats)."""
    with socket.create_connection((HOST, port), timeout=5) as conn:
        conn.sendall(b"INFO commandstats\r\n")
        data = b""
        while True:
            chunk = conn.recv(65536)
            data += chunk
            if not chunk or (data.startswith(b"$") and data.count(b"\r\n") >= 2 and _complete(data)):
                break
    counts = {}
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line[len("cmdstat_") :].partition(":")
            calls = dict(item.split("=", 1) for item in rest.split(","))["calls"]
            counts[name] = int(calls)
    return counts


def _complete(data: bytes) -> bool:
    header, _, body = data.partition(b"\r\n")
    return len(body) >= int(header[1:]) + 2


def redis_per_request(before: dict[str, int], after: dict[str, int], requests: int) -> dict[str, float]:
    """Commands and writes per request between two counts; the INFO of the first count is left out."""
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    delta["info"] = delta.get("info", 0) - 1
    total = sum(v for v in delta.values() if v > 0)
    writes = sum(v for name, v in delta.items() if name in _REDIS_WRITES and v > 0)
    return {
        "redis_commands_per_request": round(total / requests, 3),
        "redis_writes_per_request": round(writes / requests, 3),
    }


# --- CPU accounting -------------------------------------------------------------------------------

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, float]]:
    """{pid: (ppid, user+system CPU seconds)} for every process on the machine."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK_TCK)
    return table


def _tree_cpu(table: dict[int, tuple[int, float]], root: int) -> float:
    return sum(table[pid][1] for pid in _tree_pids(table, root) if pid in table)


def _tree_pids(table: dict[int, tuple[int, float]], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = set(), [root]
    while stack:
        pid = stack.pop()
        found.add(pid)
        stack.extend(children.get(pid, []))
    return found


class CpuSnapshot:
    """CPU used so far by each server tree, by this script, by reaped children (wrk), and by everything else."""

    def __init__(self, procs: Processes) -> None:
        self.table = _proc_table()
        self.wall = time.monotonic()
        self.servers = {name: _tree_cpu(self.table, p.pid) for name, p in procs.started}
        self.ours = {os.getpid()} | {pid for _, p in procs.started for pid in _tree_pids(self.table, p.pid)}
        t = os.times()
        self.children = t.children_user + t.children_system  # reaped children: the wrk runs, the setup script

    def since(self, before: CpuSnapshot, requests: int) -> dict[str, Any]:
        wall = self.wall - before.wall
        servers = {name: self.servers[name] - before.servers.get(name, 0.0) for name in self.servers}
        out: dict[str, Any] = {
            f"{name}_cpu_ms_per_request": round(1000 * cpu / requests, 3) for name, cpu in servers.items()
        }
        out["wrk_cpu_ms_per_request"] = round(1000 * (self.children - before.children) / requests, 3)
        # Processes that are not ours (other people's tests, say) and what they used meanwhile; clock-tick
        # resolution, and processes that ended during the run are missed.
        other = sum(
            cpu - before.table.get(pid, (0, 0.0))[1]
            for pid, (_, cpu) in self.table.items()
            if pid not in self.ours and pid not in before.ours
        )
        out["other_busy_cores"] = round(max(other, 0.0) / wall, 2)
        return out


# --- the run -------------------------------------------------------------------------------------


def summarize(runs: list[dict[str, Any]], works: list[int]) -> list[dict[str, Any]]:
    """Medians over the repeats, per configuration, work time and path, with the ratios to direct."""
    rows = []
    keys = (
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "rps",
        "django_cpu_ms_per_request",
        "upstream_cpu_ms_per_request",
        "redis_cpu_ms_per_request",
        "redis_commands_per_request",
        "redis_writes_per_request",
        "other_busy_cores",
    )
    for config in dict.fromkeys(r.get("config", "production") for r in runs):
        for work in works:
            med: dict[str, dict[str, Any]] = {}
            for path in PATHS:
                these = [
                    r
                    for r in runs
                    if r["work_ms"] == work and r["path"] == path and r.get("config", "production") == config
                ]
                if not these:
                    continue
                med[path] = {key: statistics.median(r[key] for r in these) for key in keys if key in these[0]}
                med[path]["p50_ms_range"] = [min(r["p50_ms"] for r in these), max(r["p50_ms"] for r in these)]
                med[path]["p99_ms_range"] = [min(r["p99_ms"] for r in these), max(r["p99_ms"] for r in these)]
                med[path]["rps_range"] = [min(r["rps"] for r in these), max(r["rps"] for r in these)]
            for path, m in med.items():
                row: dict[str, Any] = {"config": config, "work_ms": work, "path": path, **m}
                row["p50_vs_direct"] = m["p50_ms"] / med["direct"]["p50_ms"]
                row["p99_vs_direct"] = m["p99_ms"] / med["direct"]["p99_ms"]
                row["rps_vs_direct"] = m["rps"] / med["direct"]["rps"]
                rows.append(row)
    return rows


def aims(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, per configuration, from the medians."""
    by = {(r["config"], r["work_ms"], r["path"]): r for r in rows}
    result: dict[str, Any] = {}
    for config in dict.fromkeys(r["config"] for r in rows):

        def get(work: int, path: str, config: str = config) -> dict[str, Any] | None:
            return by.get((config, work, path))

        bff0, null0, rev0, revs0 = get(0, "bff"), get(0, "null"), get(0, "revproxy"), get(0, "revproxy-session")
        if bff0 and null0:
            ratio = bff0["django_cpu_ms_per_request"] / null0["django_cpu_ms_per_request"]
            result[f"{config}: Django CPU per call <= 2x the null view's"] = {
                "ratio": round(ratio, 2),
                "met": ratio <= 2,
            }
        if bff0 and rev0:
            ratio = bff0["rps"] / rev0["rps"]
            result[f"{config}: req/s at 0 ms >= django-revproxy's"] = {"ratio": round(ratio, 2), "met": ratio >= 1}
        if bff0 and revs0:
            ratio = bff0["rps"] / revs0["rps"]
            result[f"{config}: req/s at 0 ms >= 1.5x revproxy+session"] = {
                "ratio": round(ratio, 2),
                "met": ratio >= 1.5,
            }
        bff10 = get(10, "bff")
        if bff10:
            p50, p99 = bff10["p50_vs_direct"], bff10["p99_vs_direct"]
            result[f"{config}: p50 at 10 ms <= 1.3x direct"] = {"ratio": round(p50, 2), "met": p50 <= 1.3}
            result[f"{config}: p99 at 10 ms <= 1.6x direct"] = {"ratio": round(p99, 2), "met": p99 <= 1.6}
            result[f"{config}: stretch p50 <= 1.10x, p99 <= 1.3x direct"] = {
                "ratios": [round(p50, 2), round(p99, 2)],
                "met": p50 <= 1.10 and p99 <= 1.3,
            }
        if config == "production" and bff0 and "redis_commands_per_request" in bff0:
            cmds, writes = bff0["redis_commands_per_request"], bff0["redis_writes_per_request"]
            result["production: B5, one Redis command and no write per call"] = {
                "commands": cmds,
                "writes": writes,
                "met": round(cmds, 2) <= 1.0 and writes == 0,
            }
    return result


def print_table(rows: list[dict[str, Any]], repeats: int) -> None:
    print()
    print(f"B1 proxy overhead: GET 1 KiB, medians of {repeats} repeats")
    header = (
        f"{'config':<10} {'work':>5} {'path':<16} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'p50/direct':>11}"
        f" {'p99/direct':>11} {'Django CPU ms':>14} {'Redis cmd':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['config']:<10} {r['work_ms']:>3}ms {r['path']:<16} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
            f" {r['rps']:>8.0f} {r['p50_vs_direct']:>10.2f}x {r['p99_vs_direct']:>10.2f}x"
            f" {r['django_cpu_ms_per_request']:>14.2f} {r.get('redis_commands_per_request', 0):>10.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per path and run")
    parser.add_argument("--concurrency", type=int, default=8, help="connections (requests in flight)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests before each measurement")
    parser.add_argument("--repeats", type=int, default=3, help="how often the whole set is run")
    parser.add_argument("--work", default="0,10", help="upstream work per request in ms, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, Django and upstream")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--conn-max-age", type=int, default=0, help="Django CONN_MAX_AGE (default 0, as Django)")
    parser.add_argument(
        "--configs",
        default="production,defaults",
        help="Django configurations, comma-separated: production (Redis cache sessions, CacheTokenStore), "
        "defaults (database sessions, SessionTokenStore)",
    )
    parser.add_argument("--paths", default=",".join(PATHS), help="paths to measure, comma-separated")
    parser.add_argument(
        "--max-other-load",
        type=float,
        default=0.2,
        help="a measurement during which other processes used more CPU cores than this is run again",
    )
    parser.add_argument("--retries", type=int, default=2, help="how often a disturbed measurement is run again")
    parser.add_argument("--run-timeout", type=float, default=120.0, help="seconds one wrk run may take at most")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results file (default results/b1.json)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary directory with server logs")
    parser.add_argument(
        "--hold",
        type=float,
        default=0,
        metavar="SECONDS",
        help="start everything, print the addresses and cookie, keep it up this long (max 3600), measure nothing",
    )
    args = parser.parse_args(argv)
    works = [int(w) for w in args.work.split(",")]
    args.configs = [c for c in args.configs.split(",") if c]
    args.paths = [p for p in args.paths.split(",") if p]
    unknown = [c for c in args.configs if c not in CONFIGS] + [p for p in args.paths if p not in PATHS]
    if unknown or "direct" not in args.paths:
        parser.error(f"unknown configurations or paths: {unknown}" if unknown else "the paths must include direct")
    if args.out is None:
        args.out = HERE / "results" / "b1.json"
    # SIGTERM (e.g. from timeout(1)) unwinds through the finally below, which stops the servers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            print(f"{tool} is not on PATH (Debian: apt-get install -y {tool.split('-')[0]})", file=sys.stderr)
            return 2

    tmp = Path(tempfile.mkdtemp(prefix="bff-bench-"))
    procs = Processes(tmp)
    redis_port, upstream_port, django_port = free_port(), free_port(), free_port()
    upstream_url = f"http://{HOST}:{upstream_port}"
    env = bench_env(tmp, redis_port, upstream_port, BENCH_CONN_MAX_AGE=str(args.conn_max_age))
    gunicorn_common = [
        "-k", "gthread",
        "-w", str(args.workers),
        "--threads", str(args.threads),
        "--keep-alive", "30",
        "--reuse-port",  # a listening socket per worker: the kernel spreads the connections (see README)
        "--graceful-timeout", "5",
        "--log-level", "warning",
    ]  # fmt: skip
    started = time.monotonic()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    runs: list[dict[str, Any]] = []
    try:
        print(f"starting redis, upstream and Django on {HOST} (logs in {tmp})", flush=True)
        start_redis(procs, redis_port, env)
        start_gunicorn(procs, "upstream", "benchmarks.upstream:app", upstream_port, gunicorn_common, env, "/ready")

        configs = ["production"] if args.hold else args.configs
        for config in configs:
            print(f"== configuration: {config}", flush=True)
            config_env = {**env, **CONFIGS[config]}
            cookie = setup_session(config_env)
            start_gunicorn(
                procs,
                "django",
                "benchmarks.project.wsgi:application",
                django_port,
                gunicorn_common,
                config_env,
                "/revproxy/ready",
            )

            # Proof that each path does what it claims, before anything is measured.
            headers = {"Cookie": cookie, "X-CSRF": "1"}
            targets = {
                "direct": (upstream_port, "/data", "none"),
                "null": (django_port, "/null/data", ""),
                "null-session": (django_port, "/null-session/data", ""),
                "revproxy": (django_port, "/revproxy/data", "none"),
                "revproxy-session": (django_port, "/revproxy-session/data", "bearer"),
                "bff": (django_port, "/bff/data", "bearer"),
            }
            for path, (port, url, want_auth) in targets.items():
                status, resp_headers, body = get(port, url, headers)
                if status != 200 or len(body) != 1024 or resp_headers.get("x-bench-auth", "") != want_auth:
                    raise RuntimeError(
                        f"{path}: {status}, {len(body)} bytes, X-Bench-Auth={resp_headers.get('x-bench-auth')}"
                    )
            status_no_cookie, _, _ = get(django_port, "/bff/data", {"X-CSRF": "1"})
            status_no_csrf, _, _ = get(django_port, "/bff/data", {"Cookie": cookie})
            if status_no_cookie != 401 or status_no_csrf != 401:
                raise RuntimeError(
                    f"the BFF route answered {status_no_cookie} without the session, {status_no_csrf} "
                    "without X-CSRF; expected 401 and 401"
                )
            print("checks passed: bff sends the bearer token, refuses calls without session or X-CSRF", flush=True)
            if args.hold > 0:
                django_pid = next(p.pid for name, p in procs.started if name == "django")
                print(
                    json.dumps(
                        {
                            "upstream": upstream_url,
                            "django": f"http://{HOST}:{django_port}",
                            "cookie": cookie,
                            "django_master_pid": django_pid,
                        }
                    ),
                    flush=True,
                )
                hold_until = time.monotonic() + min(args.hold, 3600)
                while time.monotonic() < hold_until:
                    procs.check_alive()
                    time.sleep(1)
                return 0

            paths = tuple(args.paths)
            repeats = args.repeats
            total = repeats * len(works) * len(paths)
            done = 0
            for repeat in range(repeats):
                order = paths[repeat % len(paths) :] + paths[: repeat % len(paths)]  # rotate: no path always first
                for work in works:
                    for path in order:
                        port, url, want_auth = targets[path]
                        full = f"http://{HOST}:{port}{url}?work_ms={work}"
                        procs.check_alive()
                        for attempt in range(args.retries + 1):
                            run_wrk(full, args.warmup, args.concurrency, cookie, want_auth, args.run_timeout)
                            before = CpuSnapshot(procs)
                            redis_before = redis_commands(redis_port)
                            split: list[list[int] | None] = []
                            sampler = sample_split_later(port, 0.2, split)
                            result = run_wrk(full, args.requests, args.concurrency, cookie, want_auth, args.run_timeout)
                            result.update(CpuSnapshot(procs).since(before, args.requests))
                            result.update(redis_per_request(redis_before, redis_commands(redis_port), args.requests))
                            sampler.join(timeout=STOP_TIMEOUT)
                            # wrk's connections per server worker, sampled 0.2 s into the run
                            result["connections_per_worker"] = split[0] if split else None
                            result.update(
                                repeat=repeat + 1, work_ms=work, path=path, attempt=attempt + 1, config=config
                            )
                            if result["other_busy_cores"] <= args.max_other_load:
                                break
                            print(
                                f"    {path} at {work} ms disturbed: other processes used "
                                f"{result['other_busy_cores']:.2f} cores; "
                                + ("again" if attempt < args.retries else "kept, flagged"),
                                flush=True,
                            )
                        runs.append(result)
                        done += 1
                        print(
                            f"[{done:>2}/{total}] {config} repeat {repeat + 1} work {work:>2} ms {path:<16} "
                            f"p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:6.2f} ms "
                            f"{result['rps']:7.0f} req/s  Django CPU {result['django_cpu_ms_per_request']:5.2f} ms/req"
                            f"  Redis {result['redis_commands_per_request']:4.2f} cmd/req"
                            f"  other load {result['other_busy_cores']:4.2f} cores",
                            flush=True,
                        )
            procs.stop("django")
    except Exception:
        for name, _ in procs.started:
            tail = procs.log_tail(name)
            if tail:
                print(f"--- {name} log (tail) ---\n{tail}", file=sys.stderr)
        raise
    finally:
        procs.stop_all()
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    method = {
        "response_bytes": 1024,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "repeats": repeats,
        "work_ms": works,
        "load_generator": "wrk -t1, benchmarks/count.lua (exact request count)",
        "django_server": f"gunicorn gthread, {args.workers} workers x {args.threads} threads, --reuse-port",
        "upstream_server": f"gunicorn gthread, {args.workers} workers x {args.threads} threads, --reuse-port, "
        "benchmarks/upstream.py",
        "conn_max_age": args.conn_max_age,
        "configs": {
            "production": "Redis (django-redis) cache sessions, CacheTokenStore",
            "defaults": "database sessions (sqlite), SessionTokenStore",
        },
        "paths": {
            "direct": "wrk -> upstream",
            "null": "a Django view answering 1 KiB after the same work (N)",
            "null-session": "the same, reading the user and a token from the session (NS)",
            "revproxy": "django-revproxy ProxyView, no token (R)",
            "revproxy-session": "django-revproxy with the user's token from the session, user loaded (RS)",
            "bff": "django_bff remote_api(..., token_type=USER)",
        },
        "statistic": "median over repeats; ratios are ratios of those medians",
        "max_other_load": args.max_other_load,
        "retries": args.retries,
    }
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    rows = summarize(runs, works)
    print_table(rows, args.repeats)
    result_aims = aims(rows)
    for name, value in result_aims.items():
        print(f"aim {name}: {'MET' if value['met'] else 'NOT MET'} ({value})")
    busiest = max(r["other_busy_cores"] for r in runs)
    if busiest > args.max_other_load:
        print(
            f"warning: other processes used up to {busiest:.2f} cores during a measurement; "
            "the numbers are disturbed, run again on a quiet machine"
        )
    data = {
        "benchmark": "B1 proxy overhead",
        "method": method,
        "machine": machine_info(),
        "summary": rows,
        "aims": result_aims,
        "runs": runs,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "wall_time_s": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    svg = args.out.with_suffix(".svg")
    write_svg(data, svg)
    print(f"\nwrote {args.out} and {svg} in {data['wall_time_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
