"""Storage outages: what counts as one, the strict session engines, and what the middleware answers."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.backends.cache import SessionStore as CacheStore
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.core.cache import caches
from django.db import OperationalError
from django.test import Client

from django_bff.exceptions import StorageUnavailable, TokenStoreConflict, TokenStoreError
from django_bff.faults import is_storage_error, strict_session_store
from django_bff.locks import CacheLock

pytestmark = pytest.mark.django_db


def test_what_counts_as_an_outage(dead_cache: str) -> None:
    with pytest.raises(Exception) as info:
        caches[dead_cache].get("x")
    assert is_storage_error(info.value)
    assert is_storage_error(OperationalError("down")) and is_storage_error(ConnectionRefusedError())
    assert is_storage_error(TokenStoreError("timed out")) and is_storage_error(StorageUnavailable("x"))
    assert not is_storage_error(TokenStoreConflict("newer"))  # a lost race, not an outage
    assert not is_storage_error(ValueError("a bug")) and not is_storage_error(KeyError("x"))


# --- the session engines ---------------------------------------------------------------------------


def test_other_engines_are_unchanged() -> None:
    assert strict_session_store(DBStore) is DBStore


def test_the_cache_engine_reports_an_outage_instead_of_an_empty_session(settings: Any, dead_cache: str) -> None:
    settings.SESSION_CACHE_ALIAS = dead_cache
    plain = CacheStore("k" * 32)
    assert plain.load() == {}  # Django's: indistinguishable from a logout
    strict = strict_session_store(CacheStore)("k" * 32)
    with pytest.raises(StorageUnavailable):
        strict.load()
    from asgiref.sync import async_to_sync

    with pytest.raises(StorageUnavailable):
        async_to_sync(strict_session_store(CacheStore)("k" * 32).aload)()


def test_the_strict_cache_engine_reads_what_is_there(settings: Any) -> None:
    from asgiref.sync import async_to_sync

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    store = strict_session_store(CacheStore)()
    store["a"] = 1
    store.save()
    assert strict_session_store(CacheStore)(store.session_key).load() == {"a": 1}
    assert async_to_sync(strict_session_store(CacheStore)(store.session_key).aload)() == {"a": 1}
    missing = strict_session_store(CacheStore)("m" * 32)
    assert missing.load() == {} and missing.session_key is None
    assert async_to_sync(strict_session_store(CacheStore)("m" * 32).aload)() == {}


def test_cached_db_reads_the_database_when_its_cache_is_down(settings: Any, dead_cache: str) -> None:
    from asgiref.sync import async_to_sync

    saved = CachedDBStore()
    saved["a"] = 1
    saved.save()  # the cache here is the working default one
    settings.SESSION_CACHE_ALIAS = dead_cache
    degrading = strict_session_store(CachedDBStore)
    assert degrading(saved.session_key).load() == {"a": 1}
    assert async_to_sync(degrading(saved.session_key).aload)() == {"a": 1}
    assert degrading("n" * 32).load() == {}


def test_cached_db_fills_its_cache_and_survives_a_failed_fill(settings: Any, dead_cache: str) -> None:
    degrading = strict_session_store(CachedDBStore)
    saved = CachedDBStore()
    saved["a"] = 1
    saved.save()
    caches["default"].clear()
    assert degrading(saved.session_key).load() == {"a": 1}  # from the database, then cached
    assert caches["default"].get(saved.cache_key) == {"a": 1}
    assert degrading("n" * 32).load() == {}


# --- locks ----------------------------------------------------------------------------------------------


def test_a_lock_on_a_dead_cache(dead_cache: str, caplog: Any) -> None:
    lock = CacheLock(caches[dead_cache], "k", 5)
    with pytest.raises(StorageUnavailable):
        lock.acquire()
    lock.held = True  # as if the cache died while it was held
    lock.release()  # logged, left to the key's expiry
    assert not lock.held and any("could not release" in r.getMessage() for r in caplog.records)


def test_lock_remaining() -> None:
    lock = CacheLock(caches["default"], "k", 5)
    assert lock.remaining() == 0
    assert lock.acquire() and 4 <= lock.remaining() <= 5
    lock.release()


# --- the middleware ---------------------------------------------------------------------------------------


def test_a_database_outage_in_a_bff_endpoint_is_a_503_json() -> None:
    response = Client().get("/faults/bff-database-down/", HTTP_X_CSRF="1")
    assert response.status_code == 503
    assert response.json() == {"error": "storage_unavailable"} and response["Retry-After"] == "5"


def test_a_database_outage_elsewhere_is_left_to_django() -> None:
    with pytest.raises(OperationalError):
        Client().get("/faults/database-down/")


def test_a_session_that_cannot_be_saved(settings: Any, dead_cache: str) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.SESSION_CACHE_ALIAS = dead_cache
    response = Client().get("/faults/bff-touch-session/", HTTP_X_CSRF="1")
    assert response.status_code == 503 and response.json() == {"error": "storage_unavailable"}
    with pytest.raises(Exception) as info:
        Client().get("/faults/touch-session/")
    assert is_storage_error(info.value)


def test_bff_user_with_the_session_cache_down(settings: Any, dead_cache: str) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.SESSION_CACHE_ALIAS = dead_cache
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = "s" * 32
    response = client.get("/bff/user", HTTP_X_CSRF="1")
    assert response.status_code == 503 and response.json() == {"error": "storage_unavailable"}


@pytest.mark.parametrize("engine", [CacheStore, CachedDBStore])
def test_the_strict_engines_read_and_write_what_the_plain_ones_do(engine: Any) -> None:
    """Django salts session data with the class's name: a renamed subclass would log everybody out."""
    assert strict_session_store(engine)().key_salt == engine().key_salt
    strict = strict_session_store(engine)()
    strict["b"] = 2
    strict.save()
    assert engine(strict.session_key).load() == {"b": 2}


def test_a_cache_session_index_that_is_down_is_an_outage(settings: Any, dead_cache: str) -> None:
    """A login records its session in the index: with the index's cache down, the login answers 503."""
    from django_bff.sessions import get_session_index, record_session
    from tests.support.request import new_request

    settings.BFF = {
        **settings.BFF,
        "SESSION_INDEX": {"BACKEND": "django_bff.sessions.CacheSessionIndex", "OPTIONS": {"CACHE": dead_cache}},
    }
    request = new_request()
    with pytest.raises(Exception) as info:
        record_session(request, "alice", "s1", user="1")
    assert is_storage_error(info.value)
    with pytest.raises(Exception) as found:
        get_session_index().find(sub="alice")
    assert is_storage_error(found.value)
