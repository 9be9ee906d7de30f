"""Opt-in phase timers for ``run.py --profile``: wall and CPU time of each step of a request.

Enabled when ``BENCH_TIMERS_DIR`` is set (``wsgi.py`` then serves :func:`wrap`).
:func:`install` wraps the functions that make up a proxied request (session
load, user query, token record read, decryption, the upstream call...) and adds
up, per request kind (first path segment and query string), how often each ran
and its wall time and thread CPU time (``time.thread_time``: CPU of this thread
only, so time spent waiting, for the GIL or for I/O, is wall minus CPU).
Each worker writes its totals to ``BENCH_TIMERS_DIR/<pid>.json`` when it exits
(gunicorn's ``worker_exit`` hook, see ``gunicorn_timers.py``).

Instrumentation costs time itself (two clock reads per wrapped call), so
``run.py`` never mixes these runs with the measured ones.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_local = threading.local()
#: {request kind: {phase: [calls, wall seconds, cpu seconds]}}
_totals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0, 0.0]))


def _add(phase: str, wall: float, cpu: float) -> None:
    kind = getattr(_local, "kind", "other")
    with _lock:
        entry = _totals[kind][phase]
        entry[0] += 1
        entry[1] += wall
        entry[2] += cpu


def _timed(phase: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        try:
            return func(*args, **kwargs)
        finally:
            _add(phase, time.perf_counter() - wall0, time.thread_time() - cpu0)

    return wrapper


def install() -> None:
    """Wrap the phases. Call once, after ``django.setup()``."""
    import django.contrib.auth as auth
    from django.contrib.sessions.backends.cache import SessionStore
    from django.core.handlers.base import BaseHandler
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.query import QuerySet
    from revproxy.views import ProxyView  # type: ignore[import-untyped]

    from django_bff import proxy, stores

    BaseHandler.get_response = _timed("django: middleware + view", BaseHandler.get_response)  # type: ignore[method-assign]
    auth.get_user = _timed("auth: request.user (session + user)", auth.get_user)
    SessionStore.load = _timed("  session load (Redis GET)", SessionStore.load)  # type: ignore[method-assign]
    QuerySet.get = _timed("  user query (ORM + sqlite)", QuerySet.get)  # type: ignore[method-assign]
    BaseDatabaseWrapper.connect = _timed("  sqlite connect", BaseDatabaseWrapper.connect)  # type: ignore[method-assign]
    BaseDatabaseWrapper.close = _timed("  sqlite close (request end)", BaseDatabaseWrapper.close)  # type: ignore[method-assign]
    stores.RecordTokenStore.get_token = _timed(  # type: ignore[method-assign]
        "bff: token store get_token", stores.RecordTokenStore.get_token
    )
    stores.CacheTokenStore.read_record = _timed(  # type: ignore[method-assign]
        "  token record read (Redis GET)", stores.CacheTokenStore.read_record
    )
    stores._decode_token = _timed("  token decrypt + decode (Fernet)", stores._decode_token)
    proxy.RemoteAPIView.send = _timed(  # type: ignore[method-assign]
        "bff: upstream call until headers (requests)", proxy.RemoteAPIView.send
    )
    ProxyView.dispatch = _timed("revproxy: view (urllib3)", ProxyView.dispatch)


class _Body:
    """The response iterable, timed until gunicorn closes it (streamed bodies are read here)."""

    def __init__(self, inner: Iterable[bytes], kind: str, wall0: float, cpu0: float) -> None:
        self.inner, self.kind, self.wall0, self.cpu0 = inner, kind, wall0, cpu0

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.inner)

    def close(self) -> None:
        try:
            close = getattr(self.inner, "close", None)
            if close is not None:
                close()
        finally:
            _local.kind = self.kind
            _add("request: WSGI call to body closed", time.perf_counter() - self.wall0, time.thread_time() - self.cpu0)
            _local.kind = "other"


def wrap(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    def timed_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        segment = environ.get("PATH_INFO", "/").strip("/").split("/", 1)[0]
        kind = f"{segment}?{environ.get('QUERY_STRING', '')}"
        _local.kind = kind
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        return _Body(app(environ, start_response), kind, wall0, cpu0)

    return timed_app


def dump() -> None:
    directory = os.environ.get("BENCH_TIMERS_DIR")
    if not directory:
        return
    with _lock:
        data = {kind: {phase: list(v) for phase, v in phases.items()} for kind, phases in _totals.items()}
    Path(directory, f"{os.getpid()}.json").write_text(json.dumps(data))
