"""Django's session engines by short name, as test parameters, and what a cache holds (to look for clear text)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches

ENGINES = {
    "db": "django.contrib.sessions.backends.db",
    "cache": "django.contrib.sessions.backends.cache",
    "cached_db": "django.contrib.sessions.backends.cached_db",
    "file": "django.contrib.sessions.backends.file",
    "signed_cookies": "django.contrib.sessions.backends.signed_cookies",
}
#: The engines that keep sessions in the database: their tests run on PostgreSQL too.
DATABASE_ENGINES = {"db", "cached_db"}


def engine_params(names: list[str]) -> list[Any]:
    """The engines as parameters, marked ``database`` or ``integration`` (Redis) where true."""
    marks = {**dict.fromkeys(DATABASE_ENGINES, pytest.mark.database), "cache-redis": pytest.mark.integration}
    return [pytest.param(n, marks=marks[n]) if n in marks else n for n in names]


def locmem_values(alias: str = "default") -> list[bytes]:
    return [bytes(v) for v in caches[alias]._cache.values()]  # type: ignore[attr-defined]


def redis_values(url: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(url)
    return [client.get(k) or b"" for k in client.keys("*")]
