"""The token manager when things go wrong: a provider that trickles, answers too much or times out,
a cache that is gone, tokens that live shorter than the refresh window."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from asgiref.sync import async_to_sync
from django.core.cache import caches

from django_bff.clock import clock
from django_bff.testing import sample_token
from django_bff.token_manager import (
    _in_doubt_key,
    _lock_key,
    aget_user_access_token,
    get_client_access_token,
    get_user_access_token,
)
from django_bff.tokens import TokenError
from tests.support.misbehaving import misbehaving
from tests.support.sessions import LoggedIn

TOKEN_URL = "http://127.0.0.1:9/token"


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
def expired(user: Any, leak_guard: Any) -> LoggedIn:
    now = clock.now()
    token = sample_token(1, expires_at=now - timedelta(seconds=10), issued_at=now - timedelta(seconds=310))
    leak_guard.add_token(token)
    return LoggedIn(user, token)


def answer(n: int, expires_in: int = 300) -> dict[str, Any]:
    return {"access_token": f"new-access-{n}-XXXXXXXXXX", "token_type": "Bearer", "expires_in": expires_in}


# --- in doubt -------------------------------------------------------------------------------------


@responses.activate
def test_a_refresh_that_timed_out_leaves_its_refresh_token_in_doubt(expired: LoggedIn) -> None:
    """No second refresh with the same token before the first could have finished at the provider."""
    responses.post(TOKEN_URL, body=requests.ReadTimeout("no answer"))
    first = get_user_access_token(expired.request())
    assert first.error is TokenError.TOKEN_SERVICE_UNAVAILABLE and first.transient
    # Retry-After: until the lock, which the worker that gave up keeps, expires by itself.
    assert 10 <= first.retry_after <= 15
    cache = caches["default"]
    assert cache.get(_lock_key(expired.token)) is not None

    responses.replace(responses.POST, TOKEN_URL, json=answer(2))
    second = get_user_access_token(expired.request())
    assert second.error is TokenError.TOKEN_SERVICE_UNAVAILABLE and second.retry_after
    assert len(responses.calls) == 1, "a second refresh with a refresh token in doubt"
    assert expired.stored() == expired.token

    # Once the lock and the marker have expired, the next call refreshes.
    cache.delete(_lock_key(expired.token))
    clock.advance(16)
    third = get_user_access_token(expired.request())
    assert third.error is None and third.access_token == "new-access-2-XXXXXXXXXX"
    assert len(responses.calls) == 2


@responses.activate
def test_in_doubt_under_the_async_driver(expired: LoggedIn) -> None:
    responses.post(TOKEN_URL, body=requests.ReadTimeout("no answer"))
    first = async_to_sync(aget_user_access_token)(expired.request())
    second = async_to_sync(aget_user_access_token)(expired.request())
    assert first.error is second.error is TokenError.TOKEN_SERVICE_UNAVAILABLE
    assert len(responses.calls) == 1


@responses.activate
def test_a_refused_connection_is_not_in_doubt(expired: LoggedIn) -> None:
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    # urllib3's stubs want a pool and a connection where a failed connect gives None
    refused = requests.ConnectionError(MaxRetryError(None, TOKEN_URL, NewConnectionError(None, "refused")))  # type: ignore[arg-type]
    responses.post(TOKEN_URL, body=refused)
    assert get_user_access_token(expired.request()).retry_after == 5  # RETRY_AFTER, not the lock's lifetime
    responses.replace(responses.POST, TOKEN_URL, json=answer(2))
    assert get_user_access_token(expired.request()).error is None  # nothing was sent: retried at once
    assert caches["default"].get(_in_doubt_key(expired.token)) is None


# --- a total deadline ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["trickle-body", "trickle-head"])
def test_a_trickling_answer_cannot_outlive_the_deadline(expired: LoggedIn, settings: Any, mode: str) -> None:
    """requests' read timeout is per read: a byte every 0.3 s never trips a 1 s timeout."""
    with misbehaving(mode, interval=0.3) as server:
        settings.OIDC_OP_TOKEN_ENDPOINT = server.url
        settings.BFF = {**settings.BFF, "BACKCHANNEL_CONNECT_TIMEOUT": 0.5, "BACKCHANNEL_READ_TIMEOUT": 1.0}
        result = get_user_access_token(expired.request())
        assert result.error is TokenError.TOKEN_SERVICE_UNAVAILABLE, "the trickled answer was waited for"
        assert not server.finished.is_set()
        assert server.connections == 1
        # In doubt: the provider got the request.
        assert caches["default"].get(_in_doubt_key(expired.token)) is not None
    assert expired.stored() == expired.token


# --- bounded answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["huge-declared", "huge-chunked"])
def test_a_huge_answer_is_refused_without_being_read(expired: LoggedIn, settings: Any, mode: str, caplog: Any) -> None:
    with misbehaving(mode, size=300 * 1024 * 1024) as server:
        settings.OIDC_OP_TOKEN_ENDPOINT = server.url
        result = get_user_access_token(expired.request())
        assert result.error is TokenError.TOKEN_SERVICE_UNAVAILABLE and result.retry_after
        assert not server.finished.is_set()
    assert server.bytes_sent < 300 * 1024 * 1024
    assert any("refused" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert expired.stored() == expired.token


@pytest.mark.parametrize("name", ["access_token", "refresh_token", "id_token"])
@responses.activate
def test_a_token_over_the_size_limit_is_refused(expired: LoggedIn, settings: Any, name: str, caplog: Any) -> None:
    settings.BFF = {**settings.BFF, "MAX_TOKEN_SIZE": 1024}
    body = {**answer(2), name: "t" * 1025}
    responses.post(TOKEN_URL, json=body)
    result = get_user_access_token(expired.request())
    assert result.error is TokenError.TOKEN_SERVICE_UNAVAILABLE
    assert expired.stored() == expired.token
    assert any(name in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)
    responses.replace(responses.POST, TOKEN_URL, json={**answer(3), name: "t" * 1024})
    assert get_user_access_token(expired.request()).error is None


# --- the cache goes away ---------------------------------------------------------------------------


@pytest.fixture
def dead_redis(settings: Any, dead_cache: str) -> str:
    """The refresh locks and the client-token cache on a Redis nobody listens on."""
    settings.BFF = {**settings.BFF, "CACHE": dead_cache}
    return dead_cache


@responses.activate
def test_a_refresh_with_the_cache_down_is_storage_unavailable(expired: LoggedIn, dead_redis: str) -> None:
    responses.post(TOKEN_URL, json=answer(2))
    for get in (get_user_access_token, async_to_sync(aget_user_access_token)):
        result = get(expired.request())
        assert result.error is TokenError.STORAGE_UNAVAILABLE and result.transient and result.retry_after == 5
    assert len(responses.calls) == 0, "refreshed without the lock"
    assert expired.stored() == expired.token


@responses.activate
def test_a_fresh_token_needs_no_cache(user: Any, settings: Any, request: Any) -> None:
    token = sample_token(1)
    browser = LoggedIn(user, token)
    request.getfixturevalue("dead_redis")
    assert get_user_access_token(browser.request()).token == token


@responses.activate
def test_client_tokens_with_the_cache_down_are_storage_unavailable(dead_redis: str) -> None:
    responses.post(TOKEN_URL, json=answer(2))
    result = get_client_access_token()
    assert result.error is TokenError.STORAGE_UNAVAILABLE and result.retry_after == 5
    assert len(responses.calls) == 0


# --- refresh timing ------------------------------------------------------------------------------------


@responses.activate
def test_expiry_counts_from_when_the_request_was_sent(expired: LoggedIn) -> None:
    def slow_provider(request: Any) -> tuple[int, dict[str, str], str]:
        clock.advance(7)  # the provider took 7 s; its expires_in counts from when it got the request
        import json

        return 200, {}, json.dumps(answer(2, expires_in=300))

    responses.add_callback(responses.POST, TOKEN_URL, callback=slow_provider)
    before = clock.now()
    token = get_user_access_token(expired.request()).token
    assert token is not None and token.issued_at is not None
    assert before <= token.issued_at < before + timedelta(seconds=1)
    assert token.expires_at == token.issued_at + timedelta(seconds=300)
    assert token.expires_in() < 294  # 300 s from the request, 7 s of which the provider took
    assert expired.stored() == token


@responses.activate
def test_short_lived_tokens_refresh_at_half_their_lifetime(user: Any, leak_guard: Any, caplog: Any) -> None:
    """30 s tokens against the 60 s default window: about every 15 s, not on every call."""
    from django_bff.token_manager import single_flight

    single_flight._window_clamp_logged = False
    now = clock.now()
    login = sample_token(1, issued_at=now, expires_at=now + timedelta(seconds=30))
    browser = LoggedIn(user, login)
    counter = iter(range(2, 100))
    responses.add_callback(
        responses.POST,
        TOKEN_URL,
        callback=lambda request: (200, {}, __import__("json").dumps(answer(next(counter), expires_in=30))),
    )
    for _second in range(60):
        result = get_user_access_token(browser.request())
        assert result.error is None
        leak_guard.add_token(result.token)
        clock.advance(1)
    assert len(responses.calls) == 3  # at 15, 30 and 45 s, for 60 calls
    clamped = [r for r in caplog.records if "half their lifetime" in r.getMessage()]
    assert len(clamped) == 1


@responses.activate
def test_short_lived_client_tokens_are_cached_for_half_their_lifetime(settings: Any) -> None:
    responses.post(TOKEN_URL, json={"access_token": "app-AAAAAAAAAA", "expires_in": 30})
    for _second in range(30):
        assert get_client_access_token().error is None
        clock.advance(1)
    assert len(responses.calls) == 2  # at 0 and 15 s, for 30 calls
