"""The hot path's I/O budget: what a proxied call that needs no refresh may ask of the database, the cache,
the token store and the provider. Counted exactly, never timed (``django_bff.proxy``'s docstring)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import responses
from django.test import Client

from django_bff.testing import sample_token
from tests.support import counting_cache
from tests.support.sessions import logged_in_session
from tests.support.upstream import Upstream
from tests.support.urlconf import use_current_routes

pytestmark = pytest.mark.django_db

COUNTING = {"default": {"BACKEND": "tests.support.counting_cache.CountingLocMemCache"}}


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as up:
        yield up


@pytest.fixture
def route(settings: Any, upstream: Upstream) -> str:
    settings.BFF = {
        **settings.BFF,
        "REMOTE_APIS": [{"PREFIX": "api/", "TARGET": upstream.url + "/v1/", "TOKEN_TYPE": "user"}],
        "ALLOW_INSECURE_UPSTREAMS": True,
    }
    use_current_routes(settings)
    return "/api/orders"


def fresh_token() -> Any:
    now = datetime.now(timezone.utc)
    return sample_token(1, issued_at=now, expires_at=now + timedelta(hours=1))


def proxied(client: Client, path: str) -> Any:
    response = client.get(path, HTTP_X_CSRF="1")
    assert response.status_code == 200, response
    b"".join(response.streaming_content)
    return response


@pytest.fixture
def counted(settings: Any) -> None:
    settings.CACHES = COUNTING


@pytest.mark.parametrize(
    "engine, store, queries, round_trips",
    [
        # The recommended production shape: nothing from the database, the session from the cache
        # (the token record is in the worker's memory: BFF["TOKEN_MEMORY_TTL"]).
        ("django.contrib.sessions.backends.cache", "django_bff.stores.CacheTokenStore", 0, 1),
        # The defaults: the session row; nothing from the cache.
        pytest.param(
            "django.contrib.sessions.backends.db",
            "django_bff.stores.SessionTokenStore",
            1,
            0,
            marks=pytest.mark.database,
        ),
    ],
)
@responses.activate
def test_a_call_that_needs_no_refresh(
    settings: Any,
    counted: None,
    route: str,
    user: Any,
    upstream: Upstream,
    django_assert_num_queries: Any,
    engine: str,
    store: str,
    queries: int,
    round_trips: int,
) -> None:
    settings.SESSION_ENGINE = engine
    settings.BFF = {**settings.BFF, "USER_TOKEN_STORE": {"BACKEND": store}}
    client = Client()
    logged_in_session(client, user, fresh_token())
    proxied(client, route)  # warm: the URLconf, the pools
    counting_cache.CALLS.clear()
    with django_assert_num_queries(queries):  # no user row: the session proves the login
        proxied(client, route)
    assert counting_cache.round_trips() == round_trips, dict(counting_cache.CALLS)
    assert counting_cache.writes() == 0
    assert len(responses.calls) == 0  # no token request
    assert upstream.last["headers"]["authorization"] == f"Bearer {fresh_token().access_token}"


def test_a_dpop_call_reads_the_apis_nonce_and_nothing_more(
    settings: Any, counted: None, route: str, user: Any, upstream: Upstream, django_assert_num_queries: Any
) -> None:
    """A DPoP call costs one cache round trip more than a bearer call (the nonce); no write, no query."""
    from tests.support.dpop_tokens import bound_token

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.BFF = {**settings.BFF, "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore"}}
    client = Client()
    bound = bound_token()
    logged_in_session(client, user, bound.user_token())
    proxied(client, route)
    counting_cache.CALLS.clear()
    with django_assert_num_queries(0):
        proxied(client, route)
    assert counting_cache.round_trips() == 2, dict(counting_cache.CALLS)  # the session, the API's nonce
    assert counting_cache.writes() == 0
    assert upstream.last["headers"]["authorization"] == f"DPoP {bound.access_token}"
    assert upstream.last["headers"]["dpop"]


def test_without_an_index_that_finds_users_the_user_is_loaded(
    settings: Any, route: str, user: Any, django_assert_num_queries: Any
) -> None:
    """What replaces the per-call user check is the index ending a user's sessions: no index, no shortcut."""
    client = Client()
    logged_in_session(client, user, fresh_token())
    proxied(client, route)
    settings.BFF = {**settings.BFF, "SESSION_INDEX": {"BACKEND": "tests.support.sessions.IndexWithoutUsers"}}
    with django_assert_num_queries(3):  # the session, the user, the token record
        proxied(client, route)


def test_neither_flow_loads_the_user_of_a_bff_login(user: Any) -> None:
    from asgiref.sync import async_to_sync
    from django.utils.functional import SimpleLazyObject

    from django_bff.token_manager import aget_user_access_token, get_user_access_token
    from tests.support.sessions import session_request

    client = Client()
    token = fresh_token()
    logged_in_session(client, user, token)
    for get in (get_user_access_token, async_to_sync(aget_user_access_token)):
        for _call in range(2):  # from the store, then from the worker's memory
            request = session_request(client)
            request.user = SimpleLazyObject(lambda: pytest.fail("the user row was loaded"))
            assert get(request).token == token


def test_an_outage_on_the_straight_line_is_the_flows_to_answer(user: Any, monkeypatch: Any) -> None:
    from asgiref.sync import async_to_sync
    from django.db import OperationalError

    import django_bff.token_manager as manager
    from django_bff.tokens import TokenError
    from tests.support.sessions import session_request

    client = Client()
    logged_in_session(client, user, fresh_token())
    assert manager.get_user_access_token(session_request(client)).error is None  # now in memory

    def down(request: Any) -> Any:
        raise OperationalError("the session storage is down")

    async def adown(request: Any) -> Any:
        raise OperationalError("the session storage is down")

    monkeypatch.setattr(manager, "session_login", down)
    monkeypatch.setattr(manager, "asession_login", adown)
    for get in (manager.get_user_access_token, async_to_sync(manager.aget_user_access_token)):
        result = get(session_request(client))
        assert result.error is TokenError.STORAGE_UNAVAILABLE and result.retry_after


# --- the worker's memory of tokens (BFF["TOKEN_MEMORY_TTL"]) ----------------------------------------------


@pytest.fixture
def memory_clock() -> Iterator[Any]:
    from django_bff.clock import clock

    clock.reset()
    yield clock
    clock.reset()


def test_the_store_is_read_again_after_the_ttl(
    settings: Any, counted: None, route: str, user: Any, memory_clock: Any
) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.BFF = {**settings.BFF, "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore"}}
    client = Client()
    logged_in_session(client, user, fresh_token())
    proxied(client, route)
    counting_cache.CALLS.clear()
    proxied(client, route)
    assert counting_cache.round_trips() == 1
    memory_clock.advance(11)  # past the 10 s default
    counting_cache.CALLS.clear()
    proxied(client, route)
    assert counting_cache.round_trips() == 2  # the session and the token record
    settings.BFF = {**settings.BFF, "TOKEN_MEMORY_TTL": 0}
    counting_cache.CALLS.clear()
    proxied(client, route)
    assert counting_cache.round_trips() == 2


def test_what_the_memory_keeps_and_forgets(user: Any, memory_clock: Any) -> None:
    import django_bff.token_manager as manager
    from django_bff import token_memory
    from django_bff.stores import get_token_store
    from django_bff.tokens import UserTokenRequestParameters
    from tests.support.sessions import session_request

    client = Client()
    first = fresh_token()
    logged_in_session(client, user, first)
    key = client.session.session_key
    assert manager.get_user_access_token(session_request(client)).token == first
    assert token_memory.recall((key, "\x00")) == first
    # A write of this worker's makes it stale at once.
    second = dataclasses.replace(first, access_token="second-access-token-XXXXXXXX")
    get_token_store().store_token(session_request(client), second)
    assert token_memory.recall((key, "\x00")) is None
    assert manager.get_user_access_token(session_request(client)).token == second
    # force_renewal never takes it from memory.
    assert token_memory.recall((key, "\x00")) == second
    params = UserTokenRequestParameters(force_renewal=True)
    with responses.RequestsMock() as mock:
        mock.post("http://127.0.0.1:9/token", json={"access_token": "renewed-XXXXXXXXXX", "expires_in": 300})
        assert manager.get_user_access_token(session_request(client), params).access_token == "renewed-XXXXXXXXXX"
    # A logout in this worker forgets the session's tokens.
    from django.contrib.auth import logout

    request = session_request(client)
    logout(request)
    assert token_memory.recall((key, "\x00")) is None


def test_the_memory_is_bounded(monkeypatch: Any) -> None:
    from django_bff import token_memory

    monkeypatch.setattr(token_memory, "_MEMORY_SIZE", 3)
    token_memory.forget_all()
    for n in range(5):
        token_memory.remember((f"s{n}", ""), fresh_token())
    assert [k[0] for k in token_memory._memory] == ["s2", "s3", "s4"]
    token_memory.forget_all()
