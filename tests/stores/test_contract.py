"""The token-store contract (django_bff.testing) run against every shipped store, on every session engine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import caches

from django_bff.stores import (
    CacheTokenStore,
    CookieTokenStore,
    SessionTokenStore,
    UserTokenStore,
)
from django_bff.testing import UserTokenStoreContract
from tests.support.session_engines import ENGINES, engine_params, locmem_values, redis_values
from tests.support.stores import RequestOnlyTokenStore


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("engine", engine_params(list(ENGINES)))
class TestSessionTokenStoreContract(UserTokenStoreContract):
    @pytest.fixture(autouse=True)
    def _engine(self, settings: Any, engine: str, tmp_path: Any) -> None:
        settings.SESSION_ENGINE = ENGINES[engine]
        settings.SESSION_FILE_PATH = str(tmp_path)
        self.engine = engine
        self.tmp_path = tmp_path
        caches["default"].clear()

    def make_store(self) -> UserTokenStore:
        return SessionTokenStore()

    def raw_values(self, request: Any) -> list[bytes] | None:
        if self.engine in ("db", "cached_db"):
            return [json.dumps(s.get_decoded()).encode() + s.session_data.encode() for s in Session.objects.all()]
        if self.engine == "cache":
            return locmem_values()
        if self.engine == "file":
            from pathlib import Path

            from django.conf import settings
            from django.contrib.sessions.backends.file import SessionStore as FileStore

            prefix = FileStore()._get_storage_path()  # cached per process by Django
            # The file engine names its files after the cookie: SESSION_COOKIE_NAME + key.
            return [p.read_bytes() for p in Path(prefix).glob(f"{settings.SESSION_COOKIE_NAME}*")]
        return [request.session.session_key.encode(), json.dumps(dict(request.session)).encode()]


@pytest.mark.django_db(transaction=True)
class TestSessionTokenStoreOnRedisContract(UserTokenStoreContract):
    @pytest.fixture(autouse=True)
    def _engine(self, settings: Any, redis_cache: str) -> None:
        settings.SESSION_ENGINE = ENGINES["cache"]
        self.url = redis_cache

    def make_store(self) -> UserTokenStore:
        return SessionTokenStore()

    def raw_values(self, request: Any) -> list[bytes] | None:
        return redis_values(self.url)


@pytest.mark.django_db(transaction=True)
class TestCookieTokenStoreContract(UserTokenStoreContract):
    @pytest.fixture(autouse=True)
    def _engine(self, settings: Any) -> None:
        settings.SESSION_ENGINE = ENGINES["signed_cookies"]

    def make_store(self) -> UserTokenStore:
        return CookieTokenStore()

    def raw_values(self, request: Any) -> list[bytes] | None:
        return [request.session.session_key.encode(), json.dumps(dict(request.session)).encode()]


@pytest.mark.django_db(transaction=True)
class TestRequestOnlyStoreContract(UserTokenStoreContract):
    """A store with only the request-based contract: the defaults of the session-level methods."""

    def make_store(self) -> UserTokenStore:
        return RequestOnlyTokenStore()

    def raw_values(self, request: Any) -> list[bytes] | None:
        return locmem_values()


@pytest.mark.django_db(transaction=True)
class TestCacheTokenStoreContract(UserTokenStoreContract):
    def make_store(self) -> UserTokenStore:
        caches["default"].clear()
        return CacheTokenStore()

    def raw_values(self, request: Any) -> list[bytes] | None:
        return locmem_values()


@pytest.mark.django_db(transaction=True)
class TestCacheTokenStoreOnRedisContract(UserTokenStoreContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_cache: str) -> None:
        self.url = redis_cache

    def make_store(self) -> UserTokenStore:
        return CacheTokenStore(KEY_PREFIX="t:")

    def raw_values(self, request: Any) -> list[bytes] | None:
        return redis_values(self.url)
