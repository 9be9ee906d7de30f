"""A local-memory cache that counts what is asked of it: the round trips a request makes, exactly."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.cache.backends.locmem import LocMemCache

#: Calls by method name ("get", "set", "add", "get_many"...), for every instance.
CALLS: Counter[str] = Counter()

_COUNTED = ("get", "set", "add", "delete", "has_key", "touch")
_MISSING = object()


class CountingLocMemCache(LocMemCache):
    """``LocMemCache``, counting each call of a method that would be one round trip on Redis."""

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        CALLS["get_many"] += 1
        found = {key: LocMemCache.get(self, key, _MISSING, version) for key in keys}
        return {key: value for key, value in found.items() if value is not _MISSING}

    def set_many(self, data: Any, timeout: Any = None, version: Any = None) -> list[Any]:
        CALLS["set_many"] += 1
        for key, value in data.items():
            LocMemCache.set(self, key, value, timeout, version)
        return []

    def delete_many(self, keys: Any, version: Any = None) -> None:
        CALLS["delete_many"] += 1
        for key in keys:
            LocMemCache.delete(self, key, version)


def _counted(name: str) -> Any:
    original = getattr(LocMemCache, name)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        CALLS[name] += 1
        return original(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in _COUNTED:
    setattr(CountingLocMemCache, _name, _counted(_name))


def round_trips() -> int:
    return sum(CALLS.values())


def writes() -> int:
    return sum(n for name, n in CALLS.items() if name in ("set", "add", "delete", "set_many", "delete_many", "incr"))
