"""gunicorn config for ``run.py --profile``: each worker writes its phase timers when it exits."""

from __future__ import annotations

from typing import Any


def worker_exit(server: Any, worker: Any) -> None:
    from benchmarks.project import timers

    timers.dump()
