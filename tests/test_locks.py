from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import caches

from django_bff.locks import CacheLock


@pytest.fixture(params=["locmem", "redis"])
def cache(request: Any) -> Any:
    if request.param == "redis":
        request.getfixturevalue("redis_cache")
    caches["default"].clear()
    return caches["default"]


def test_one_holder_at_a_time_and_release_frees_the_key(cache: Any) -> None:
    first, second = CacheLock(cache, "k", 30), CacheLock(cache, "k", 30)
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()
    assert cache.get("k") is None


def test_release_never_frees_someone_elses_lock(cache: Any) -> None:
    first, second = CacheLock(cache, "k", 30), CacheLock(cache, "k", 30)
    assert first.acquire()
    second.held = True  # a confused holder (its own lock expired and was taken over)
    second.release()
    assert not CacheLock(cache, "k", 30).acquire()
    first.release()
    first.release()  # twice is harmless
    assert CacheLock(cache, "k", 30).acquire()


def test_lock_expires(cache: Any) -> None:
    lock = CacheLock(cache, "k", 0.2)
    assert lock.timeout == 1
    assert lock.acquire()
    import time

    time.sleep(1.2)
    assert CacheLock(cache, "k", 30).acquire()


def test_async_twins(cache: Any) -> None:
    lock = CacheLock(cache, "k", 30)
    assert async_to_sync(lock.aacquire)()
    assert not async_to_sync(CacheLock(cache, "k", 30).aacquire)()
    async_to_sync(lock.arelease)()
    assert CacheLock(cache, "k", 30).acquire()
