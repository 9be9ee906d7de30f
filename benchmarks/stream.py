"""B3, streaming: 256 MiB down and up through one Django worker, against the same transfer direct.

    .venv/bin/python benchmarks/stream.py

Starts on 127.0.0.1: redis-server, the upstream (gunicorn, ``benchmarks/upstream.py``:
``GET /big?size=N`` streams N bytes, ``POST /big`` reads the body) and the benchmark
Django project (production configuration) under gunicorn with one gthread worker.
For each of ``--rounds`` (3) rounds, interleaved: a download direct, through the
BFF, an upload direct, through the BFF, of ``--size`` (256 MiB) each, from a
Python client in this process that reads and writes 1 MiB at a time.

Per transfer: the throughput (MiB/s), and for the BFF the Django worker's CPU
(seconds per GiB) and memory: its resident size before, and its peak during
the transfer (``VmHWM`` after ``clear_refs``: needs permission to write
``/proc/<pid>/clear_refs``, else the resident size after).

Aims (the issue's): download >= 0.6x direct, upload >= 0.8x direct, memory
growth < 8 MiB both ways. Writes ``benchmarks/results/b3.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from benchmarks.run import (  # noqa: E402
    HOST,
    Processes,
    bench_env,
    free_port,
    machine_info,
    setup_session,
    start_gunicorn,
    start_redis,
)

MIB = 1024 * 1024
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"expected one Django worker, found {children}")
    return int(children[0])


def cpu_seconds(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def download(port: int, path: str, cookie: str, size: int) -> float:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        started = time.perf_counter()
        conn.request("GET", f"{path}?size={size}", headers={"Cookie": cookie, "X-CSRF": "1"})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {response.read(200)!r}")
        total = 0
        while True:
            data = response.read(MIB)
            if not data:
                break
            total += len(data)
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if total != size:
        raise RuntimeError(f"GET {path}: {total} bytes of {size}")
    return elapsed


def _body(size: int) -> Iterator[bytes]:
    block = b"y" * MIB
    remaining = size
    while remaining > 0:
        piece = block[: min(MIB, remaining)]
        remaining -= len(piece)
        yield piece


def upload(port: int, path: str, cookie: str, size: int) -> float:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        started = time.perf_counter()
        conn.putrequest("POST", path)
        for name, value in (
            ("Cookie", cookie),
            ("X-CSRF", "1"),
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(size)),
        ):
            conn.putheader(name, value)
        conn.endheaders()
        for piece in _body(size):
            conn.send(piece)
        response = conn.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if response.status != 200 or answer != str(size).encode():
        raise RuntimeError(f"POST {path}: {response.status} {answer[:200]!r}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256 * MIB)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "b3.json")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if shutil.which("redis-server") is None:
        print("redis-server is not on PATH (Debian: apt-get install -y redis-server)", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="bff-stream-"))
    procs = Processes(tmp)
    redis_port, upstream_port, django_port = free_port(), free_port(), free_port()
    env = bench_env(tmp, redis_port, upstream_port, BENCH_MAX_REQUEST_BODY=str(args.size + MIB), BENCH_CONN_MAX_AGE="0")
    common = ["-k", "gthread", "--keep-alive", "30", "--log-level", "warning", "--timeout", "300"]
    transfers: list[dict[str, Any]] = []
    peak_measured = True
    try:
        start_redis(procs, redis_port, env)
        options = [*common, "-w", "1", "--threads", "4"]
        start_gunicorn(procs, "upstream", "benchmarks.upstream:app", upstream_port, options, env, "/ready")
        cookie = setup_session(env)
        app = "benchmarks.project.wsgi:application"
        django = start_gunicorn(procs, "django", app, django_port, options, env, "/revproxy/ready")
        worker = worker_pid(django.pid)
        # Warm: the pools, the imports, a first body each way.
        download(django_port, "/bff/big", cookie, 4 * MIB)
        upload(django_port, "/bff/big", cookie, 4 * MIB)

        for number in range(1, args.rounds + 1):
            for direction in ("download", "upload"):
                for path in ("direct", "bff"):
                    port, url = (upstream_port, "/big") if path == "direct" else (django_port, "/bff/big")
                    before_rss = memory_kib(worker, "VmRSS")
                    peak_measured = reset_peak(worker) and peak_measured
                    cpu_before = cpu_seconds(worker)
                    move = download if direction == "download" else upload
                    elapsed = move(port, url, cookie, args.size)
                    cpu = cpu_seconds(worker) - cpu_before
                    after = memory_kib(worker, "VmHWM" if peak_measured else "VmRSS")
                    result = {
                        "round": number,
                        "direction": direction,
                        "path": path,
                        "seconds": round(elapsed, 3),
                        "mib_per_s": round(args.size / MIB / elapsed, 1),
                    }
                    if path == "bff":
                        result["worker_cpu_s_per_gib"] = round(cpu / (args.size / 1024**3), 3)
                        result["worker_rss_before_mib"] = round(before_rss / 1024, 1)
                        result["worker_memory_growth_mib"] = round((after - before_rss) / 1024, 1)
                    transfers.append(result)
                    print(json.dumps(result), flush=True)
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    summary: dict[str, Any] = {}
    for direction in ("download", "upload"):
        direct = statistics.median(
            t["mib_per_s"] for t in transfers if t["direction"] == direction and t["path"] == "direct"
        )
        bff = [t for t in transfers if t["direction"] == direction and t["path"] == "bff"]
        summary[direction] = {
            "direct_mib_per_s": direct,
            "bff_mib_per_s": statistics.median(t["mib_per_s"] for t in bff),
            "bff_vs_direct": round(statistics.median(t["mib_per_s"] for t in bff) / direct, 2),
            "bff_vs_direct_range": [
                round(min(t["mib_per_s"] for t in bff) / direct, 2),
                round(max(t["mib_per_s"] for t in bff) / direct, 2),
            ],
            "worker_cpu_s_per_gib": statistics.median(t["worker_cpu_s_per_gib"] for t in bff),
            "worker_memory_growth_mib": max(t["worker_memory_growth_mib"] for t in bff),
        }
    aims = {
        "download >= 0.6x direct": summary["download"]["bff_vs_direct"] >= 0.6,
        "upload >= 0.8x direct": summary["upload"]["bff_vs_direct"] >= 0.8,
        "memory growth < 8 MiB both ways": max(summary[d]["worker_memory_growth_mib"] for d in summary) < 8,
    }
    for direction, values in summary.items():
        print(f"{direction}: {values}")
    for name, met in aims.items():
        print(f"{'MET    ' if met else 'NOT MET'} {name}")
    data = {
        "benchmark": "B3 streaming",
        "method": {
            "size_bytes": args.size,
            "rounds": args.rounds,
            "django": "gunicorn gthread, 1 worker x 4 threads, production configuration",
            "upstream": "gunicorn gthread, 1 worker x 4 threads, benchmarks/upstream.py (64 KiB chunks)",
            "client": "Python http.client in the benchmark's process, 1 MiB reads and writes",
            "memory": "peak resident size during the transfer (VmHWM after clear_refs)"
            if peak_measured
            else "resident size after the transfer (clear_refs not writable)",
        },
        "machine": machine_info(),
        "transfers": transfers,
        "summary": summary,
        "aims": aims,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
