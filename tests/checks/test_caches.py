"""The check of the caches (:mod:`django_bff.checks.caches`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.checks import ids


def test_E013_dummy_cache(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    assert "django_bff.E013" in ids()


def test_W005_locmem_cache() -> None:
    assert "django_bff.W005" in ids()


def test_no_W005_on_redis(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    assert ids() == ["django_bff.W010"]


REDIS = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
DJANGO_REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}


@pytest.mark.parametrize(
    "caches, bff, engine, warned",
    [
        ({"default": REDIS}, {}, "django.contrib.sessions.backends.db", True),
        ({"default": {**REDIS, "OPTIONS": {"SOCKET_TIMEOUT": 1}}}, {}, "django.contrib.sessions.backends.db", True),
        (
            {"default": {**REDIS, "OPTIONS": {"SOCKET_TIMEOUT": 1, "SOCKET_CONNECT_TIMEOUT": 1}}},
            {},
            "django.contrib.sessions.backends.db",
            False,
        ),
        ({"default": DJANGO_REDIS}, {}, "django.contrib.sessions.backends.db", True),
        (
            {"default": {**DJANGO_REDIS, "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1}}},
            {},
            "django.contrib.sessions.backends.db",
            False,
        ),
        # Caches django_bff does not use are not its business...
        (
            {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "other": REDIS},
            {},
            "django.contrib.sessions.backends.db",
            False,
        ),
        # ...but the session engine's, the token store's and the session index's are.
        (
            {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "other": REDIS},
            {},
            "django.contrib.sessions.backends.cache",
            True,
        ),
        (
            {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "other": REDIS},
            {"USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore", "OPTIONS": {"CACHE": "other"}}},
            "django.contrib.sessions.backends.db",
            True,
        ),
        (
            {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "other": REDIS},
            {"SESSION_INDEX": {"BACKEND": "django_bff.sessions.CacheSessionIndex", "OPTIONS": {"CACHE": "other"}}},
            "django.contrib.sessions.backends.db",
            True,
        ),
    ],
)
def test_W017_redis_without_socket_timeouts(
    settings: Any, caches: dict[str, Any], bff: dict[str, Any], engine: str, warned: bool
) -> None:
    settings.CACHES = caches
    settings.SESSION_CACHE_ALIAS = "other" if "other" in caches else "default"
    settings.SESSION_ENGINE = engine
    settings.BFF = {**settings.BFF, **bff}
    assert ("django_bff.W017" in ids()) is warned
