"""B4, live connections under ASGI: 1,000 quiet event streams and 1,000 idle WebSockets on one uvicorn worker.

    .venv/bin/python benchmarks/live.py                      # the issue's sizes, 3 rounds
    .venv/bin/python benchmarks/live.py --streams 100 --sockets 100 --rounds 1   # a quick try

Starts on 127.0.0.1, on free ports, in a temporary directory: redis-server (the
benchmark project's production configuration), the upstream
(``benchmarks/live_upstream.py``: event streams and a WebSocket echo, asyncio),
and, per measurement, ONE uvicorn worker serving ``benchmarks/project/asgi.py``
(``BFFApplication(get_asgi_application())``) with ``BFF["PROXY_ASYNC"]`` set
explicitly, ``True`` (``async``) or ``False`` (``thread``). Each round measures
both, interleaved (the order alternates between rounds), each on a fresh worker:

* **Event streams**: ``--streams`` (1,000) ``GET /live/events`` through the
  BFF from ``--client-processes`` (2) client processes
  (``benchmarks/live_client.py``), each stream with the session cookie and
  ``X-CSRF: 1``; the upstream sends each stream one event every ``--period``
  (5) s at its own offset, stamped with ``time.monotonic()``. Once the streams
  are established (or ``--establish-timeout``), ``--duration`` (30) s are
  measured: every event the upstream sent in that window, and when it reached
  its client (``--grace`` (10) s allowed after the window; later is counted
  as not delivered). The worker's resident size and thread count are sampled
  every 0.5 s.
* **WebSockets** (a second fresh worker): ``--echo-messages`` (2,000) round
  trips of a 32-byte text message, one at a time, through the BFF's ``ws/``
  route and straight to the upstream, then ``--sockets`` (1,000) idle
  WebSockets through the BFF, held ``--hold`` (10) s: the worker's resident
  size before and with them, and per socket.

Before measuring, each worker is checked: the stream and the socket answer
only with the session cookie (401 without), the stream only with ``X-CSRF``,
the socket only from the page's own ``Origin``; the upstream refuses anything
without the user's bearer token, so every stream and socket that works proves
the token went upstream. Prints a table of medians (min–max over the rounds),
writes ``--out`` (``benchmarks/results/b4.json``). Every wait has a timeout;
every process started is stopped at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from benchmarks.run import (  # noqa: E402
    HOST,
    STOP_TIMEOUT,
    Processes,
    _version,
    bench_env,
    free_port,
    get,
    machine_info,
    setup_session,
    start_redis,
    wait_for_http,
)
from benchmarks.stream import cpu_seconds, memory_kib  # noqa: E402

CONFIGS = {"async": "1", "thread": "0"}  # BFF["PROXY_ASYNC"], through BENCH_PROXY_ASYNC
MIB = 1024.0
SAMPLE_EVERY = 0.5


# --- processes ------------------------------------------------------------------------------------


def raise_fd_limit() -> int:
    """The soft limit on open files up to the hard one, for this process and every child."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def start_worker(procs: Processes, name: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """ONE uvicorn worker (no supervisor process: its pid is the worker's) serving the project's asgi.py."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.project.asgi:application",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "asyncio",
        "--http",
        "h11",
        "--ws",
        "websockets",
        "--backlog",
        "4096",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = procs.start(name, argv, env)
    wait_for_http(port, "/null/ready", procs)
    return process


class Client:
    """A client process (``live_client.py``) with its stdout read line by line, each read bounded."""

    def __init__(self, argv: list[str], env: dict[str, str], clients: list[Client]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.live_client", *argv],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        clients.append(self)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def json_line(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"client {self.proc.args!r} said nothing in {timeout:.0f} s") from None
        if line is None:
            raise RuntimeError(f"client {self.proc.args!r} exited with {self.proc.wait(timeout=STOP_TIMEOUT)}")
        result: dict[str, Any] = json.loads(line)
        return result

    def stop(self) -> None:
        """Say ``stop`` on its stdin."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except OSError:
            pass

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"client {self.proc.args!r} did not exit in {timeout:.0f} s") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)


class Sampler:
    """The worker's resident size (KiB) and thread count, every 0.5 s, in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), memory_kib(self.pid, "VmRSS"), memory_kib(self.pid, "Threads")))
            except (OSError, RuntimeError):
                return
            self._stop.wait(SAMPLE_EVERY)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=STOP_TIMEOUT)

    def between(self, low: float, high: float) -> list[tuple[float, int, int]]:
        return [s for s in self.samples if low <= s[0] <= high]


def now_sample(pid: int) -> tuple[int, int]:
    return memory_kib(pid, "VmRSS"), memory_kib(pid, "Threads")


# --- statistics -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; ``inf`` stands for an event never delivered."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _ms(value: float) -> float | None:
    return None if math.isinf(value) or math.isnan(value) else round(value, 2)


# --- the checks -----------------------------------------------------------------------------------


def check_stream_path(port: int, cookie: str) -> dict[str, Any]:
    """The event route answers the session only, with the anti-forgery header, and the token went upstream."""
    path = "/live/events?id=-1&once=1"
    status, headers, body = get(port, path, {"Cookie": cookie, "X-CSRF": "1"})
    if status != 200 or headers.get("x-bench-auth") != "bearer" or b"data: -1 0 " not in body:
        raise RuntimeError(f"the event stream through the BFF answered {status} {headers} {body[:200]!r}")
    no_cookie, _, _ = get(port, path, {"X-CSRF": "1"})
    no_csrf, _, _ = get(port, path, {"Cookie": cookie})
    if no_cookie != 401 or no_csrf == 200:
        raise RuntimeError(f"the BFF answered {no_cookie} without the cookie, {no_csrf} without X-CSRF")
    return {"with_session": status, "without_cookie": no_cookie, "without_x_csrf": no_csrf, "token_upstream": True}


def check_socket_path(port: int, ws_port: int, cookie: str) -> dict[str, Any]:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    from websockets.typing import Origin

    url, origin = f"ws://{HOST}:{port}/ws/echo", Origin(f"http://{HOST}:{port}")
    with connect(url, additional_headers={"Cookie": cookie}, origin=origin, open_timeout=10) as ws:
        ws.send("check")
        if ws.recv(timeout=10) != "check":
            raise RuntimeError("the WebSocket through the BFF did not echo")
    refusals: dict[str, Any] = {}
    for name, headers, page in (
        ("without_cookie", {}, origin),
        ("other_origin", {"Cookie": cookie}, Origin("http://evil.example")),
    ):
        try:
            with connect(url, additional_headers=headers, origin=page, open_timeout=10):
                refusals[name] = 101
        except InvalidStatus as e:
            refusals[name] = e.response.status_code
    try:
        with connect(f"ws://{HOST}:{ws_port}/echo", open_timeout=10):
            refusals["upstream_without_token"] = 101
    except InvalidStatus as e:
        refusals["upstream_without_token"] = e.response.status_code
    if refusals != {"without_cookie": 401, "other_origin": 403, "upstream_without_token": 401}:
        raise RuntimeError(f"WebSocket refusals: {refusals}")
    return {"with_session": 101, **refusals, "token_upstream": True}


# --- the measurements -----------------------------------------------------------------------------


def measure_streams(
    args: argparse.Namespace, procs: Processes, env: dict[str, str], config: str, ports: dict[str, int], cookie: str
) -> dict[str, Any]:
    port = free_port()
    worker = start_worker(procs, f"django-{config}-sse", port, dict(env, BENCH_PROXY_ASYNC=CONFIGS[config]))
    clients: list[Client] = []
    sampler: Sampler | None = None
    try:
        checks = check_stream_path(port, cookie)
        time.sleep(1.0)
        rss_before, threads_before = now_sample(worker.pid)
        sampler = Sampler(worker.pid)
        per_client = [args.streams // args.client_processes] * args.client_processes
        per_client[0] += args.streams - sum(per_client)
        outs = [procs.logdir / f"sse-{config}-{i}.json" for i in range(args.client_processes)]
        opened_at = time.monotonic()
        for i, count in enumerate(per_client):
            argv = [
                "sse",
                f"--port={port}",
                "--path=/live/events",
                f"--cookie={cookie}",
                f"--streams={count}",
                f"--first-id={i * 1_000_000}",
                f"--period={args.period}",
                f"--establish-timeout={args.establish_timeout}",
                f"--max-seconds={args.establish_timeout + args.duration + args.grace + 120}",
                f"--out={outs[i]}",
            ]
            Client(argv, env, clients)
        opening = [c.json_line(args.establish_timeout + 60) for c in clients]
        established = sum(o["established"] for o in opening)
        establish_s = time.monotonic() - opened_at
        procs.check_alive()
        t0 = time.monotonic() + 2.0  # a moment for the last handshakes' work to settle
        cpu0_at = t0
        time.sleep(max(0.0, t0 - time.monotonic()))
        cpu0 = cpu_seconds(worker.pid)
        t1 = t0 + args.duration
        time.sleep(max(0.0, t1 - time.monotonic()))
        cpu = cpu_seconds(worker.pid) - cpu0
        cpu_window = time.monotonic() - cpu0_at
        time.sleep(args.grace)
        sampler.stop()
        for c in clients:
            c.stop()
        for c in clients:
            c.wait(60)
        stats_status, _, stats_body = get(ports["upstream"], f"/stats?from={t0}&to={t1}")
        if stats_status != 200:
            raise RuntimeError(f"upstream /stats: {stats_status}")
        stats = json.loads(stats_body)
    finally:
        if sampler is not None:
            sampler.stop()
        for c in clients:
            c.kill()
        procs.stop(f"django-{config}-sse")

    received: dict[tuple[int, int], float] = {}
    established_at_end = 0
    for out in outs:
        data = json.loads(out.read_text())
        established_at_end += data["established_at_end"]
        for sid, seq, _sent, got in data["events"]:
            received[(sid, seq)] = got
    sent = stats["events"]
    latencies = [(received[(sid, seq)] - t) * 1000 if (sid, seq) in received else math.inf for sid, seq, t in sent]
    delivered = sum(1 for v in latencies if not math.isinf(v))
    window = sampler.between(t0, t1) if sampler else []
    everything = sampler.samples if sampler else []
    return {
        "config": config,
        "proxy_async": CONFIGS[config] == "1",
        "streams": args.streams,
        "established": established,
        "established_at_end": established_at_end,
        "establish_seconds": round(establish_s, 1),
        "opening": opening,
        "checks": checks,
        "window_s": args.duration,
        "events_sent": len(sent),
        "events_delivered": delivered,
        "delivered_fraction": round(delivered / len(sent), 4) if sent else None,
        "p50_ms": _ms(percentile(latencies, 50)),
        "p99_ms": _ms(percentile(latencies, 99)),
        "max_ms": _ms(max(latencies, default=math.nan)),
        "p99_delivered_ms": _ms(percentile([v for v in latencies if not math.isinf(v)], 99)),
        "rss_before_mib": round(rss_before / MIB, 1),
        "rss_steady_mib": round(statistics.median(s[1] for s in window) / MIB, 1) if window else None,
        "rss_peak_mib": round(max(s[1] for s in everything) / MIB, 1) if everything else None,
        "threads_before": threads_before,
        "threads_steady": statistics.median(s[2] for s in window) if window else None,
        "threads_peak": max(s[2] for s in everything) if everything else None,
        "worker_cpu_percent": round(100 * cpu / cpu_window, 1),
    }


def measure_sockets(
    args: argparse.Namespace,
    procs: Processes,
    env: dict[str, str],
    config: str,
    ports: dict[str, int],
    cookie: str,
    number: int,
) -> dict[str, Any]:
    port = free_port()
    worker = start_worker(procs, f"django-{config}-ws", port, dict(env, BENCH_PROXY_ASYNC=CONFIGS[config]))
    clients: list[Client] = []
    bff = [f"--url=ws://{HOST}:{port}/ws/echo", f"--cookie={cookie}", f"--origin=http://{HOST}:{port}"]
    direct = [f"--url=ws://{HOST}:{ports['ws']}/echo", "--token=bench-token"]
    if args.deflate in ("upstream", "none"):  # the browser hop without it; direct is the same client
        bff.append("--no-deflate")
        direct.append("--no-deflate")
    echo: dict[str, list[float]] = {}
    try:
        checks = check_socket_path(port, ports["ws"], cookie)
        order = [("direct", direct), ("bff", bff)]
        for name, target in order if number % 2 else reversed(order):
            client = Client(["echo", *target, f"--messages={args.echo_messages}"], env, clients)
            echo[name] = client.json_line(120)["round_trips_us"]
            client.wait(30)
        time.sleep(1.0)
        rss_before, threads_before = now_sample(worker.pid)
        sampler = Sampler(worker.pid)
        client = Client(["idle", *bff, f"--sockets={args.sockets}"], env, clients)
        opened = client.json_line(180)
        held_from = time.monotonic()
        time.sleep(args.hold)
        sampler.stop()
        procs.check_alive()
        client.stop()
        closing = client.json_line(60)
        client.wait(60)
    finally:
        for c in clients:
            c.kill()
        procs.stop(f"django-{config}-ws")
    held = sampler.between(held_from, held_from + args.hold + 1)
    rss_with = statistics.median(s[1] for s in held)
    result: dict[str, Any] = {"config": config, "proxy_async": CONFIGS[config] == "1", "checks": checks}
    for name, times in echo.items():
        result[f"echo_{name}_p50_us"] = round(percentile(times, 50), 1)
        result[f"echo_{name}_p99_us"] = round(percentile(times, 99), 1)
    result["echo_p50_ratio"] = round(result["echo_bff_p50_us"] / result["echo_direct_p50_us"], 2)
    result["echo_p99_ratio"] = round(result["echo_bff_p99_us"] / result["echo_direct_p99_us"], 2)
    result.update(
        {
            "echo_messages": args.echo_messages,
            "sockets": args.sockets,
            "sockets_opened": opened["opened"],
            "socket_failures": opened["failures"],
            "sockets_open_at_stop": closing["still_open_at_stop"],
            "open_seconds": opened["seconds"],
            "idle_rss_before_mib": round(rss_before / MIB, 1),
            "idle_rss_with_mib": round(rss_with / MIB, 1),
            "idle_rss_peak_mib": round(max(s[1] for s in sampler.samples) / MIB, 1),
            "idle_kib_per_socket": round((rss_with - rss_before) / max(1, opened["opened"]), 1),
            "idle_threads_before": threads_before,
            "idle_threads_with": statistics.median(s[2] for s in held),
        }
    )
    return result


# --- the report -----------------------------------------------------------------------------------

#: (key, heading) of the summary, per configuration; median and min–max over the rounds.
SSE_ROWS = [
    ("established", "streams established"),
    ("establish_seconds", "seconds to establish them"),
    ("events_sent", "events sent in the window"),
    ("events_delivered", "events delivered"),
    ("p50_ms", "latency p50 (ms)"),
    ("p99_ms", "latency p99 (ms)"),
    ("max_ms", "latency max (ms)"),
    ("rss_before_mib", "worker RSS before (MiB)"),
    ("rss_steady_mib", "worker RSS steady (MiB)"),
    ("rss_peak_mib", "worker RSS peak (MiB)"),
    ("threads_steady", "worker threads steady"),
    ("threads_peak", "worker threads peak"),
    ("worker_cpu_percent", "worker CPU during window (%)"),
]
WS_ROWS = [
    ("echo_direct_p50_us", "echo direct p50 (µs)"),
    ("echo_direct_p99_us", "echo direct p99 (µs)"),
    ("echo_bff_p50_us", "echo BFF p50 (µs)"),
    ("echo_bff_p99_us", "echo BFF p99 (µs)"),
    ("echo_p50_ratio", "echo p50 BFF / direct"),
    ("echo_p99_ratio", "echo p99 BFF / direct"),
    ("sockets_opened", "idle sockets opened"),
    ("idle_rss_before_mib", "worker RSS before (MiB)"),
    ("idle_rss_with_mib", "worker RSS with them (MiB)"),
    ("idle_kib_per_socket", "KiB per idle socket"),
    ("idle_threads_with", "worker threads with them"),
]


def summarize(runs: list[dict[str, Any]], rows: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for config in CONFIGS:
        mine = [r for r in runs if r["config"] == config]
        if not mine:
            continue
        summary[config] = {}
        for key, _ in rows:
            values = [r[key] for r in mine]
            if any(v is None for v in values):  # p99 over undelivered events: beyond the grace period
                summary[config][key] = {"median": None, "min": None, "max": None, "values": values}
                continue
            summary[config][key] = {
                "median": round(statistics.median(values), 2),
                "min": min(values),
                "max": max(values),
                "values": values,
            }
    return summary


def _cell(entry: dict[str, Any], grace: float) -> str:
    if entry["median"] is None:
        known = [v for v in entry["values"] if v is not None]
        return f"> {grace * 1000:.0f} in {len(entry['values']) - len(known)} of {len(entry['values'])}"

    def fmt(v: float) -> str:
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.4g}"

    return f"{fmt(entry['median'])} ({fmt(entry['min'])}–{fmt(entry['max'])})"


def print_table(title: str, summary: dict[str, dict[str, Any]], rows: list[tuple[str, str]], grace: float) -> None:
    configs = list(summary)
    print(f"\n{title}: median (min–max) over the rounds")
    print(f"{'':40}" + "".join(f"{'PROXY_ASYNC=' + str(c == 'async'):>28}" for c in configs))
    for key, heading in rows:
        print(f"{heading:40}" + "".join(f"{_cell(summary[c][key], grace):>28}" for c in configs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000, help="concurrent event streams (1000)")
    parser.add_argument("--sockets", type=int, default=1000, help="concurrent idle WebSockets (1000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", default="async,thread", help="PROXY_ASYNC True (async), False (thread)")
    parser.add_argument("--period", type=float, default=5.0, help="seconds between two events of a stream")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of events measured")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds an event may take to count as delivered")
    parser.add_argument("--establish-timeout", type=float, default=60.0)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--echo-messages", type=int, default=2000)
    parser.add_argument("--hold", type=float, default=10.0, help="seconds the idle sockets are held and sampled")
    parser.add_argument(
        "--deflate",
        choices=("both", "browser", "upstream", "none"),
        default="both",
        help="the WebSocket hops with permessage-deflate: both (the libraries' defaults, what browsers offer); "
        "browser (the upstream accepts none); upstream (the browser clients offer none); none",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=0,
        help="BFF['PROXY_POOL_SIZE'] (0: the default); the thread path reads bodies in max(32, 2x) threads",
    )
    parser.add_argument("--skip", default="", help="sse or ws: leave that part out")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "b4.json")
    args = parser.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    if unknown := set(configs) - set(CONFIGS):
        parser.error(f"unknown configs {unknown}")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if shutil.which("redis-server") is None:
        print("redis-server is not on PATH (Debian: apt-get install -y redis-server)", file=sys.stderr)
        return 2
    fd_limit = raise_fd_limit()
    if fd_limit < 4 * max(args.streams, args.sockets):
        print(f"warning: the hard limit on open files is {fd_limit}", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="bff-live-"))
    procs = Processes(tmp)
    ports = {"redis": free_port(), "upstream": free_port(), "ws": free_port()}
    env = bench_env(
        tmp,
        ports["redis"],
        free_port(),  # B1's upstream: not started, the bff/ route is not used here
        BENCH_LIVE_UPSTREAM=f"http://{HOST}:{ports['upstream']}",
        BENCH_WS_UPSTREAM=f"ws://{HOST}:{ports['ws']}",
        **({"BENCH_PROXY_POOL_SIZE": str(args.pool_size)} if args.pool_size else {}),
    )
    sse_runs: list[dict[str, Any]] = []
    ws_runs: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        start_redis(procs, ports["redis"], env)
        argv = [sys.executable, "-m", "benchmarks.live_upstream", f"--http-port={ports['upstream']}"]
        argv.append(f"--ws-port={ports['ws']}")
        upstream_deflate = args.deflate in ("both", "upstream")
        procs.start("upstream", [*argv, *([] if upstream_deflate else ["--no-deflate"])], env)
        wait_for_http(ports["upstream"], "/ready", procs)
        cookie = setup_session(env)
        for number in range(1, args.rounds + 1):
            order = configs if number % 2 else list(reversed(configs))
            for config in order:
                if "sse" not in args.skip:
                    run = measure_streams(args, procs, env, config, ports, cookie)
                    run["round"] = number
                    sse_runs.append(run)
                    print(json.dumps({k: v for k, v in run.items() if k not in ("opening", "checks")}), flush=True)
                if "ws" not in args.skip:
                    run = measure_sockets(args, procs, env, config, ports, cookie, number)
                    run["round"] = number
                    ws_runs.append(run)
                    print(json.dumps({k: v for k, v in run.items() if k != "checks"}), flush=True)
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started

    sse = summarize(sse_runs, SSE_ROWS)
    ws = summarize(ws_runs, WS_ROWS)
    if sse:
        title = f"Event streams ({args.streams}, one event per stream every {args.period:g} s)"
        print_table(title, sse, SSE_ROWS, args.grace)
    if ws:
        title = f"WebSockets (echo: {args.echo_messages} round trips; {args.sockets} idle)"
        print_table(title, ws, WS_ROWS, args.grace)
    targets = targets_met(sse, args.streams)
    for name, met in targets.items():
        print(f"{'MET    ' if met else 'NOT MET'} {name}")
    print(f"\n{elapsed / 60:.1f} minutes")
    machine = machine_info()
    for dist in ("uvicorn", "httpx", "websockets", "asgiref", "h11"):
        machine[dist] = _version(dist)
    machine["fd_limit"] = fd_limit
    data = {
        "benchmark": "B4 live connections under ASGI",
        "method": {
            "worker": "one uvicorn worker (--loop asyncio --http h11 --ws websockets), "
            "BFFApplication(get_asgi_application()), production configuration",
            "configs": {c: f"BFF['PROXY_ASYNC'] = {CONFIGS[c] == '1'}" for c in configs},
            "streams": args.streams,
            "period_s": args.period,
            "window_s": args.duration,
            "grace_s": args.grace,
            "establish_timeout_s": args.establish_timeout,
            "client_processes": args.client_processes,
            "latency": "receive time.monotonic() in the client minus the upstream's time.monotonic() "
            "just before it wrote the event; an event not received within the grace period counts as infinite",
            "echo": f"{args.echo_messages} sequential round trips of 32 bytes after 200 warm-up, one socket",
            "sockets": args.sockets,
            "hold_s": args.hold,
            "proxy_pool_size": args.pool_size or "default",
            "permessage_deflate": {
                "both": "offered by the clients, accepted by uvicorn and the upstream (defaults; browsers offer it)",
                "browser": "on the browser hop only (the upstream accepts none)",
                "upstream": "on the BFF -> upstream hop only (the clients offer none)",
                "none": "on neither hop",
            }[args.deflate],
            "rounds": args.rounds,
            "elapsed_minutes": round(elapsed / 60, 1),
        },
        "machine": machine,
        "summary": {"streams": sse, "websockets": ws},
        "targets": targets,
        "runs": {"streams": sse_runs, "websockets": ws_runs},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def targets_met(sse: dict[str, dict[str, Any]], streams: int) -> dict[str, bool]:
    """The issue's targets, per configuration, in every round (the worst round decides)."""
    result: dict[str, bool] = {}
    for config, values in sse.items():
        p99 = values["p99_ms"]["values"]
        result[f"PROXY_ASYNC={config == 'async'}: all {streams} streams established"] = (
            values["established"]["min"] == streams
        )
        result[f"PROXY_ASYNC={config == 'async'}: p99 <= 50 ms"] = all(v is not None and v <= 50 for v in p99)
        result[f"PROXY_ASYNC={config == 'async'}: worker RSS < 300 MiB (peak)"] = values["rss_peak_mib"]["max"] < 300
    return result


if __name__ == "__main__":
    sys.exit(main())
