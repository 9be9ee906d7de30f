from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import caches

from django_bff.locks import CacheLock


@pytest.fixture(params=["locmem", pytest.param("redis", marks=pytest.mark.integration)])
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

    time.sleep(1.2)  # the cache server's own clock expires the key (a Redis TTL): no clock of ours to move
    assert CacheLock(cache, "k", 30).acquire()


def test_async_twins(cache: Any) -> None:
    lock = CacheLock(cache, "k", 30)
    assert async_to_sync(lock.aacquire)()
    assert not async_to_sync(CacheLock(cache, "k", 30).aacquire)()
    async_to_sync(lock.arelease)()
    assert CacheLock(cache, "k", 30).acquire()


# --- waiting for a lock: take() and atake() -----------------------------------------------------


def test_take_acquires_a_free_lock_at_once(cache: Any) -> None:
    from django_bff.locks import Waited

    lock = CacheLock(cache, "k", 30)
    assert lock.take(0) is Waited.ACQUIRED and lock.held
    assert async_to_sync(CacheLock(cache, "k", 30).atake)(0.05) is Waited.TIMED_OUT
    lock.release()
    assert async_to_sync(CacheLock(cache, "k", 30).atake)(0) is Waited.ACQUIRED


def test_take_waits_for_the_holder_then_gives_up(cache: Any) -> None:
    import threading

    from django_bff.locks import Waited

    holder = CacheLock(cache, "k", 30)
    assert holder.acquire()
    waiter = CacheLock(cache, "k", 30)
    assert waiter.take(0.05) is Waited.TIMED_OUT and not waiter.held
    timer = threading.Timer(0.1, holder.release)
    timer.start()
    assert waiter.take(5) is Waited.ACQUIRED and waiter.held
    timer.join()
    waiter.release()


def test_what_check_finds_ends_the_wait_without_the_lock(cache: Any) -> None:
    holder = CacheLock(cache, "k", 30)
    assert holder.acquire()
    looks: list[int] = []

    def check() -> str | None:
        looks.append(1)
        return "found" if len(looks) == 3 else None

    async def acheck() -> str | None:
        return check()

    waiter = CacheLock(cache, "k", 30)
    assert waiter.take(5, check=check) == "found" and not waiter.held
    looks.clear()
    assert async_to_sync(waiter.atake)(5, check=acheck) == "found" and not waiter.held
    holder.release()


def test_polling_backs_off_after_its_steady_time() -> None:
    from django_bff.locks import Polling

    steady = Polling(first=0.02)
    assert steady.after(0.02, 100) == 0.02
    backing_off = Polling(first=0.01, steady=2.0, longest=0.2)
    assert backing_off.after(0.01, 1.9) == 0.01
    pauses = [0.01]
    for _ in range(6):
        pauses.append(backing_off.after(pauses[-1], 2.1))
    assert pauses == [0.01, 0.02, 0.04, 0.08, 0.16, 0.2, 0.2]
