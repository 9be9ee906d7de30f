"""A lock in the Django cache, shared by every thread and process that shares the cache.

In the data flow: below the token manager (the single flight of refreshes and
application tokens), the stores and the session index; it talks only to the
Django cache.

``cache.add`` is atomic on Redis (``SET NX``), Memcached and the local-memory
cache, so at most one holder gets a key at a time. The key expires after
``timeout`` seconds, so a crashed holder cannot block the others forever.
Release deletes the key only when it still holds our random value (atomically
on django-redis, with a Lua script; on other caches with a read then a delete).

Waiting for a lock is written once, here: :meth:`CacheLock.take` (and its
async twin :meth:`CacheLock.atake`) tries until a deadline, pausing as a
:class:`Polling` says, and may look between tries for what the holder
produced (the single flight of the token manager stops waiting when it finds
the token another worker stored). The token manager, the token stores' write
mutex and the cache session index all wait through it.

A cache that cannot be reached makes :meth:`CacheLock.acquire` raise
:class:`~django_bff.exceptions.StorageUnavailable` (the caller answers 503);
a release that fails is logged and left to the key's expiry.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from django.core.cache import BaseCache

from django_bff.faults import is_storage_error, storage_unavailable

__all__ = ["CacheLock", "Polling", "Waited"]

logger = logging.getLogger(__name__)

R = TypeVar("R")

_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class Waited(enum.Enum):
    """How a wait for a lock ended, when it was not ended by what ``check`` found."""

    ACQUIRED = "acquired"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class Polling:
    """How often a waiter tries the lock: every ``first`` seconds for the first ``steady``
    seconds of its wait, then doubling the pause up to ``longest``."""

    first: float = 0.01
    steady: float = math.inf
    longest: float = 0.2

    def after(self, pause: float, waited: float) -> float:
        """The pause that follows ``pause``, ``waited`` seconds into the wait."""
        return min(pause * 2, self.longest) if waited > self.steady else pause


class CacheLock:
    def __init__(self, cache: BaseCache, key: str, timeout: float) -> None:
        self.cache = cache
        self.key = key
        self.timeout = max(1, int(round(timeout)))
        # An int: django-redis stores ints as plain digits, so the Lua script can compare them.
        self.value = secrets.randbits(62) + 1
        self.held = False
        self.acquired_at = 0.0

    def _add(self) -> bool:
        try:
            added = bool(self.cache.add(self.key, self.value, self.timeout))
        except Exception as e:
            if is_storage_error(e):
                raise storage_unavailable(e, "lock") from None
            raise
        if added:
            self.acquired_at = time.monotonic()
        return added

    def acquire(self) -> bool:
        """Try once. True when this lock now holds the key."""
        self.held = self._add()
        return self.held

    @overload
    def take(self, seconds: float, *, polling: Polling = ..., check: None = None) -> Waited: ...

    @overload
    def take(self, seconds: float, *, polling: Polling = ..., check: Callable[[], R | None]) -> Waited | R: ...

    def take(
        self, seconds: float, *, polling: Polling = Polling(), check: Callable[[], R | None] | None = None
    ) -> Waited | R:
        """Acquire, waiting at most ``seconds`` (tries go on as ``polling`` says).

        :attr:`Waited.ACQUIRED` once the lock is held, :attr:`Waited.TIMED_OUT`
        when the wait is over; ``check``, called after each pause, ends the wait
        (without the lock) with what it finds when that is not None.
        """
        started = time.monotonic()
        pause = polling.first
        while not self.acquire():
            if time.monotonic() - started >= seconds:
                return Waited.TIMED_OUT
            time.sleep(pause)
            pause = polling.after(pause, time.monotonic() - started)
            found = None if check is None else check()
            if found is not None:
                return found
        return Waited.ACQUIRED

    def remaining(self) -> float:
        """Seconds until the key expires by itself (0 when not held)."""
        if not self.held:
            return 0.0
        return max(0.0, self.timeout - (time.monotonic() - self.acquired_at))

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            self._delete()
        except Exception as e:
            if not is_storage_error(e):
                raise
            logger.warning("could not release a lock (%s); it expires in %d s", type(e).__name__, self.timeout)

    def _delete(self) -> None:
        redis = _redis_client(self.cache, self.key)
        if redis is not None:
            client, raw_key = redis
            client.eval(_RELEASE_SCRIPT, 1, raw_key, str(self.value))
            return
        if self.cache.get(self.key) == self.value:
            self.cache.delete(self.key)

    async def aacquire(self) -> bool:
        from asgiref.sync import sync_to_async

        self.held = await sync_to_async(self._add, thread_sensitive=False)()
        return self.held

    @overload
    async def atake(self, seconds: float, *, polling: Polling = ..., check: None = None) -> Waited: ...

    @overload
    async def atake(
        self, seconds: float, *, polling: Polling = ..., check: Callable[[], Awaitable[R | None]]
    ) -> Waited | R: ...

    async def atake(
        self,
        seconds: float,
        *,
        polling: Polling = Polling(),
        check: Callable[[], Awaitable[R | None]] | None = None,
    ) -> Waited | R:
        """Async twin of :meth:`take`: the event loop runs on while it waits."""
        started = time.monotonic()
        pause = polling.first
        while not await self.aacquire():
            if time.monotonic() - started >= seconds:
                return Waited.TIMED_OUT
            await asyncio.sleep(pause)
            pause = polling.after(pause, time.monotonic() - started)
            found = None if check is None else await check()
            if found is not None:
                return found
        return Waited.ACQUIRED

    async def arelease(self) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self.release, thread_sensitive=False)()


def _redis_client(cache: BaseCache, key: str) -> tuple[Any, str] | None:
    """The raw redis-py client behind a django-redis cache and ``key`` as it names it there, else None."""
    client = getattr(cache, "client", None)
    get_client = getattr(client, "get_client", None)
    make_key = getattr(client, "make_key", None)
    if get_client is None or make_key is None:
        return None
    try:
        return get_client(write=True), str(make_key(key))
    except Exception:  # pragma: no cover - a broken cache answers in add() first
        return None
