"""A lock in the Django cache, shared by every thread and process that shares the cache.

``cache.add`` is atomic on Redis (``SET NX``), Memcached and the local-memory
cache, so at most one holder gets a key at a time. The key expires after
``timeout`` seconds, so a crashed holder cannot block the others forever.
Release deletes the key only when it still holds our random value (atomically
on django-redis, with a Lua script; on other caches with a read then a delete).

A cache that cannot be reached makes :meth:`CacheLock.acquire` raise
:class:`~django_bff.exceptions.StorageUnavailable` (the caller answers 503);
a release that fails is logged and left to the key's expiry.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from django.core.cache import BaseCache

from django_bff.faults import is_storage_error, storage_unavailable

__all__ = ["CacheLock"]

logger = logging.getLogger(__name__)

_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


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
        client = _redis_client(self.cache)
        if client is not None:
            raw_key = str(self.cache.client.make_key(self.key))  # type: ignore[attr-defined]
            client.eval(_RELEASE_SCRIPT, 1, raw_key, str(self.value))
            return
        if self.cache.get(self.key) == self.value:
            self.cache.delete(self.key)

    async def aacquire(self) -> bool:
        from asgiref.sync import sync_to_async

        self.held = await sync_to_async(self._add, thread_sensitive=False)()
        return self.held

    async def arelease(self) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self.release, thread_sensitive=False)()


def _redis_client(cache: BaseCache) -> Any:
    """The raw redis-py client behind a django-redis cache, else None."""
    client = getattr(cache, "client", None)
    get_client = getattr(client, "get_client", None)
    if get_client is None or not hasattr(client, "make_key"):
        return None
    try:
        return get_client(write=True)
    except Exception:  # pragma: no cover - a broken cache answers in add() first
        return None
