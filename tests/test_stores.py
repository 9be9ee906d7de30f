from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import caches

from django_bff.exceptions import InvalidTokenStore, TokenStoreConflict
from django_bff.stores import (
    SESSION_RECORD_KEY,
    SESSION_REF_KEY,
    CacheTokenStore,
    CookieTokenStore,
    SessionTokenStore,
    UserTokenStore,
    get_token_store,
)
from django_bff.testing import UserTokenStoreContract, sample_token
from django_bff.tokens import UserTokenRequestParameters
from tests.support.stores import RequestOnlyTokenStore

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


def _locmem_values(alias: str = "default") -> list[bytes]:
    return [bytes(v) for v in caches[alias]._cache.values()]  # type: ignore[attr-defined]


def _redis_values(url: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(url)
    return [client.get(k) or b"" for k in client.keys("*")]


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
            return _locmem_values()
        if self.engine == "file":
            from pathlib import Path

            from django.contrib.sessions.backends.file import SessionStore as FileStore

            prefix = FileStore()._get_storage_path()  # cached per process by Django
            return [p.read_bytes() for p in Path(prefix).glob("sessionid*")]
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
        return _redis_values(self.url)


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
        return _locmem_values()


@pytest.mark.django_db(transaction=True)
class TestCacheTokenStoreContract(UserTokenStoreContract):
    def make_store(self) -> UserTokenStore:
        caches["default"].clear()
        return CacheTokenStore()

    def raw_values(self, request: Any) -> list[bytes] | None:
        return _locmem_values()


@pytest.mark.django_db(transaction=True)
class TestCacheTokenStoreOnRedisContract(UserTokenStoreContract):
    @pytest.fixture(autouse=True)
    def _redis(self, redis_cache: str) -> None:
        self.url = redis_cache

    def make_store(self) -> UserTokenStore:
        return CacheTokenStore(KEY_PREFIX="t:")

    def raw_values(self, request: Any) -> list[bytes] | None:
        return _redis_values(self.url)


# --- lost updates: Django saves the session dict whole ------------------------------------------


@pytest.fixture(params=engine_params(["db", "cache-redis", "cached_db"]))
def server_engine(request: Any, settings: Any) -> str:
    name = request.param
    if name == "cache-redis":
        request.getfixturevalue("redis_cache")
        settings.SESSION_ENGINE = ENGINES["cache"]
    else:
        settings.SESSION_ENGINE = ENGINES[name]
    return name


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store_class", [SessionTokenStore, CacheTokenStore])
def test_a_stale_session_save_does_not_write_old_tokens_back(server_engine: str, store_class: type, user: Any) -> None:
    contract = UserTokenStoreContract()
    store = store_class()
    login = contract.new_request(user=user)
    store.store_token(login, sample_token(1))
    key = contract.finish_request(login)

    # Request A loads the session (as every authenticated request does) ...
    slow = contract.new_request(key, user)
    assert slow.session[SESSION_REF_KEY]
    assert store.get_token(slow) == sample_token(1)
    # ... request B refreshes and finishes first ...
    fast = contract.new_request(key, user)
    assert store.get_token(fast) == sample_token(1)
    store.store_token(fast, sample_token(2))
    contract.finish_request(fast)
    # ... then A changes something else and saves its whole, older session dict.
    slow.session["cart"] = ["book"]
    contract.finish_request(slow)

    after = contract.new_request(key, user)
    assert after.session["cart"] == ["book"]
    assert store.get_token(after) == sample_token(2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store_class", [SessionTokenStore, CacheTokenStore])
def test_compare_and_set_refuses_a_write_based_on_old_tokens(server_engine: str, store_class: type, user: Any) -> None:
    contract = UserTokenStoreContract()
    store = store_class()
    login = contract.new_request(user=user)
    store.store_token(login, sample_token(1))
    key = contract.finish_request(login)
    a, b = contract.new_request(key, user), contract.new_request(key, user)
    assert store.get_token(a) == store.get_token(b) == sample_token(1)
    store.store_token(b, sample_token(2))
    with pytest.raises(TokenStoreConflict):
        store.store_token(a, sample_token(3))
    assert store.get_token(contract.new_request(key, user)) == sample_token(2)
    # Having read the newer record, A may write.
    assert store.get_token(a) == sample_token(2)
    store.store_token(a, sample_token(3))
    assert store.get_token(contract.new_request(key, user)) == sample_token(3)


@pytest.mark.database
@pytest.mark.django_db(transaction=True)
def test_session_holds_only_a_reference(settings: Any, user: Any) -> None:
    contract = UserTokenStoreContract()
    request = contract.new_request(user=user)
    SessionTokenStore().store_token(request, sample_token(1))
    contract.finish_request(request)
    assert set(request.session.keys()) == {SESSION_REF_KEY}
    assert len(request.session[SESSION_REF_KEY]) == 32


@pytest.mark.django_db(transaction=True)
def test_signed_cookies_keep_the_encrypted_record_in_the_cookie(settings: Any, user: Any) -> None:
    settings.SESSION_ENGINE = ENGINES["signed_cookies"]
    contract = UserTokenStoreContract()
    request = contract.new_request(user=user)
    SessionTokenStore().store_token(request, sample_token(1))
    assert SESSION_REF_KEY not in request.session
    record = request.session[SESSION_RECORD_KEY]
    assert record["v"] == 1 and record["tokens"][""].startswith("f:")


@pytest.mark.database
@pytest.mark.django_db(transaction=True)
def test_tampered_record_reads_as_no_token(user: Any, leak_guard: Any) -> None:
    contract = UserTokenStoreContract()
    store = SessionTokenStore()
    request = contract.new_request(user=user)
    store.store_token(request, sample_token(1))
    key = contract.finish_request(request)
    ref = request.session[SESSION_REF_KEY]
    record = store.read_record(ref)
    assert record is not None
    record["tokens"][""] = record["tokens"][""][:-4] + "AAAA"
    store.write_record(ref, record, 60, exists=True)
    assert store.get_token(contract.new_request(key, user)) is None
    assert any(r.name == "django.security.django_bff" for r in leak_guard.records)


@pytest.mark.database
@pytest.mark.django_db(transaction=True)
def test_undecodable_record_reads_as_no_token(user: Any) -> None:
    contract = UserTokenStoreContract()
    store = SessionTokenStore()
    request = contract.new_request(user=user)
    store.store_token(request, sample_token(1))
    key = contract.finish_request(request)
    ref = request.session[SESSION_REF_KEY]
    from django_bff import crypto

    store.write_record(ref, {"v": 9, "tokens": {"": crypto.encrypt(b"not json")}, "versions": {}}, 60, exists=True)
    assert store.get_token(contract.new_request(key, user)) is None
    store.write_record(ref, {"v": "x"}, 60, exists=True)
    assert store.get_token(contract.new_request(key, user)) is None


def test_get_token_store_uses_the_setting(settings: Any) -> None:
    settings.BFF = {
        **settings.BFF,
        "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore", "OPTIONS": {"KEY_PREFIX": "x:"}},
    }
    store = get_token_store()
    assert isinstance(store, CacheTokenStore) and store.key_prefix == "x:"
    assert get_token_store() is store


@pytest.mark.parametrize(
    "config, message",
    [
        ("django_bff.stores.CacheTokenStore", "must be a dict"),
        ({"BACKEND": "django_bff.nope.Store"}, "Could not import"),
        ({"BACKEND": "django_bff.tokens.UserToken"}, "not a subclass"),
        (
            {"BACKEND": "django_bff.stores.SessionTokenStore", "OPTIONS": {"COLOR": 1}},
            r'\["OPTIONS"\] rejected: SessionTokenStore got unknown OPTIONS: COLOR',
        ),
    ],
)
def test_get_token_store_errors_name_the_setting(settings: Any, config: Any, message: str) -> None:
    settings.BFF = {**settings.BFF, "USER_TOKEN_STORE": config}
    with pytest.raises(InvalidTokenStore, match=message):
        get_token_store()


def test_base_class_methods_must_be_implemented() -> None:
    store = UserTokenStore()
    request: Any = object()
    for call in (
        lambda: store.get_token(request),
        lambda: store.store_token(request, sample_token()),
        lambda: store.clear_token(request),
    ):
        with pytest.raises(NotImplementedError, match="subclasses of UserTokenStore must provide"):
            call()
    assert store.check() == []


def test_parameters_select_resource_key() -> None:
    assert UserTokenRequestParameters(resource="urn:x").resource == "urn:x"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store_class", [SessionTokenStore, CacheTokenStore])
def test_compare_and_set_is_per_resource(server_engine: str, store_class: type, user: Any) -> None:
    contract = UserTokenStoreContract()
    store = store_class()
    api2 = UserTokenRequestParameters(resource="urn:api2")
    login = contract.new_request(user=user)
    store.store_token(login, sample_token(1))
    store.store_token(login, sample_token(2), api2)
    key = contract.finish_request(login)
    a, b = contract.new_request(key, user), contract.new_request(key, user)
    assert store.get_token(a) == sample_token(1)
    assert store.get_token(b, api2) == sample_token(2)
    # Two refreshes of different resources at the same moment: both land.
    store.store_token(b, sample_token(4), api2)
    store.store_token(a, sample_token(3))
    after = contract.new_request(key, user)
    assert store.get_token(after) == sample_token(3) and store.get_token(after, api2) == sample_token(4)
