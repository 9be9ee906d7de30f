"""A lock in the Django cache, shared by every thread and process that shares the cache.

``cache.add`` is atomic on Redis (``SET NX``), Memcached and the local-memory
cache, so at most one holder gets a key at a time. The key expires after
``timeout`` seconds, so a crashed holder cannot block the others forever.
Release deletes the key only when it still holds our random value (atomically
on django-redis, with a Lua script; on other caches with a read then a delete).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.core.cache import BaseCache

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

    def acquire(self) -> bool:
        """Try once. True when this lock now holds the key."""
        self.held = bool(self.cache.add(self.key, self.value, self.timeout))
        return self.held

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        client = _redis_client(self.cache)
        if client is not None:
            raw_key = str(self.cache.client.make_key(self.key))  # type: ignore[attr-defined]
            client.eval(_RELEASE_SCRIPT, 1, raw_key, str(self.value))
            return
        if self.cache.get(self.key) == self.value:
            self.cache.delete(self.key)

    async def aacquire(self) -> bool:
        self.held = bool(await self.cache.aadd(self.key, self.value, self.timeout))
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
