"""Memory of a server process, read from ``/proc`` (Linux only), for the streaming tests."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")


def _status_bytes(pid: int, field: str) -> int:
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for process {pid}")


def rss_bytes(pid: int) -> int:
    """The resident set size of ``pid`` (``VmRSS`` of ``/proc/<pid>/status``), in bytes."""
    return _status_bytes(pid, "VmRSS")


def reset_peak_rss(pid: int) -> bool:
    """Resets ``pid``'s peak RSS (``VmHWM``) to its current RSS; False when not allowed."""
    try:
        (PROC / str(pid) / "clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes(pid: int) -> int:
    """The peak resident set size of ``pid`` (``VmHWM``) since it started or was reset."""
    return _status_bytes(pid, "VmHWM")


def _ppid(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[1])


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and _ppid(int(entry.name)) == pid:
            found.append(int(entry.name))
    return sorted(found)


def serving_pid(pid: int) -> int:
    """The process that runs the application: ``pid``'s only child (a gunicorn worker), else ``pid``."""
    kids = children(pid)
    if len(kids) > 1:
        raise RuntimeError(f"process {pid} has several children {kids}: which one serves is ambiguous")
    return kids[0] if kids else pid


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = PROC / str(pid) / "fd"
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def connected_to(pid: int, port: int) -> bool:
    """Whether ``pid`` holds an established TCP connection to ``port`` on loopback.

    Proves which process talks to the upstream (the proxy's pooled connection).
    """
    wanted = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / str(pid) / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01":  # 01: ESTABLISHED
                wanted.add(fields[9])
    return bool(wanted & _socket_inodes(pid))


class RSSSampler:
    """Samples ``pid``'s RSS every ``interval`` seconds in a thread while in the ``with`` block.

    When the kernel lets us reset ``pid``'s ``VmHWM`` on entry, its value on exit
    also counts as a sample: it catches a peak shorter than the interval.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[int] = []
        self.baseline = 0
        self.high_water_mark: int | None = None
        self._hwm_reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(rss_bytes(self.pid))
            except (OSError, RuntimeError):
                return  # the process is gone
            self._stop.wait(self.interval)

    def __enter__(self) -> RSSSampler:
        self._hwm_reset = reset_peak_rss(self.pid)
        self.baseline = rss_bytes(self.pid)
        self.samples.append(self.baseline)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        try:
            self.samples.append(rss_bytes(self.pid))
            if self._hwm_reset:
                self.high_water_mark = peak_rss_bytes(self.pid)
        except (OSError, RuntimeError):
            pass

    @property
    def peak(self) -> int:
        return max([*self.samples, self.high_water_mark or 0])

    @property
    def growth(self) -> int:
        return self.peak - self.baseline

    def describe(self) -> str:
        mib = 1024 * 1024
        return (
            f"pid {self.pid}: baseline {self.baseline / mib:.1f} MiB, peak {self.peak / mib:.1f} MiB, "
            f"growth {self.growth / mib:.1f} MiB over {len(self.samples)} samples"
            + (f" and VmHWM {self.high_water_mark / mib:.1f} MiB" if self.high_water_mark is not None else "")
        )


def spooled_bytes(pid: int, directory: str) -> int:
    """The size of the largest deleted (anonymous) file under ``directory`` that ``pid`` holds open.

    Django's ASGI handler spools a request body past ``FILE_UPLOAD_MAX_MEMORY_SIZE``
    into such a file (a ``SpooledTemporaryFile`` rolled over to disk).
    """
    largest = 0
    fd_dir = PROC / str(pid) / "fd"
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
            if target.startswith(directory.rstrip("/") + "/") and target.endswith(" (deleted)"):
                largest = max(largest, os.stat(fd).st_size)
        except OSError:
            continue
    return largest
