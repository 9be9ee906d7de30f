"""Objects made from settings, kept until the settings change: the one mechanism, and its reset.

In the data flow: what django_bff makes from settings and reuses (the token
store, the session index, the encryption keys, the back-channel session and its
threads, the proxy's pool and stream threads, the assertion services, the
compiled retriever patterns, the client table) is made by a function decorated
with :func:`per_settings`. Its results are kept per arguments until Django
sends ``setting_changed`` for a setting they depend on (``BFF``,
``SECRET_KEY``, ``SECRET_KEY_FALLBACKS``, ``CACHES``);
:mod:`django_bff.conf` then calls :func:`reset_all`, which forgets them (closing
those that hold connections or threads) and runs the other hooks registered
with :func:`on_reload` (the discovery and JWKS caches).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from typing import Generic, ParamSpec, TypeVar

__all__ = ["per_settings", "per_settings_closing", "PerSettings", "on_reload", "reset_all", "stop_threads"]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[[], object])

_hooks: list[Callable[[], object]] = []


def on_reload(func: F) -> F:
    """Register ``func`` to run when the settings change (a cache built from them forgets itself)."""
    _hooks.append(func)
    return func


def reset_all() -> None:
    """Forget everything made from the settings: the settings changed."""
    for hook in list(_hooks):
        hook()


class PerSettings(Generic[P, R]):
    """A function's results, one per arguments, kept until the settings change.

    The first call with given arguments makes the result under a lock (one
    maker at a time, so a pool or a session is never made twice); the next
    ones read it without taking the lock. :meth:`reset` forgets the results
    and passes each to ``close`` (threads to stop, connections to drop).
    """

    def __init__(self, make: Callable[P, R], close: Callable[[R], object] | None = None) -> None:
        self._make = make
        self._close = close
        self._made: dict[Hashable, R] = {}
        self._lock = threading.Lock()
        self.__doc__ = make.__doc__
        self.__name__ = getattr(make, "__name__", type(self).__name__)
        self.__wrapped__ = make
        on_reload(self.reset)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        key: Hashable = (args, tuple(sorted(kwargs.items()))) if kwargs else args
        try:
            return self._made[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._made:
                self._made[key] = self._make(*args, **kwargs)
            return self._made[key]

    def reset(self) -> None:
        with self._lock:
            made, self._made = self._made, {}
        if self._close is not None:
            for value in made.values():
                self._close(value)

    #: The name ``functools.lru_cache`` gives it, for code and tests that call it so.
    cache_clear = reset


def per_settings(make: Callable[P, R]) -> PerSettings[P, R]:
    """Decorate a function whose results are made from settings: they are kept until the settings change."""
    return PerSettings(make)


def per_settings_closing(close: Callable[[R], object]) -> Callable[[Callable[P, R]], PerSettings[P, R]]:
    """:func:`per_settings` for results to close when forgotten: ``@per_settings_closing(lambda pool: ...)``."""

    def decorate(make: Callable[P, R]) -> PerSettings[P, R]:
        return PerSettings(make, close)

    return decorate


def stop_threads(executor: Executor) -> None:
    """Close a thread pool made from settings: no new work; its threads finish what they run, unwaited."""
    executor.shutdown(wait=False)
