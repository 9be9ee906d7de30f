"""Token exchange (RFC 8693) for delegation and impersonation."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from django.core.cache import caches

from django_bff.retrievers import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    AccessTokenRetrievalContext,
    AccessTokenRetrievalError,
    BearerTokenResult,
    TokenExchangeAccessTokenRetriever,
)
from django_bff.testing import sample_token
from django_bff.tokens import TokenResult
from tests.support.idp import API_RESOURCE
from tests.support.token_sessions import Session
from tests.support.urlconf import use_current_routes

TOKEN_URL = "http://127.0.0.1:9/token"
API = "https://orders.example/v1/"


class Impersonation(TokenExchangeAccessTokenRetriever):
    scope = "orders.read"


def context(request: Any) -> AccessTokenRetrievalContext:
    return AccessTokenRetrievalContext(request=request, local_path="/api/orders/x", api_address=API)


pytestmark = pytest.mark.django_db(transaction=True)


@responses.activate
def test_the_users_token_is_exchanged_once_and_cached_encrypted(user: Any, leak_guard: Any) -> None:
    session = Session(user, sample_token(1))
    responses.post(TOKEN_URL, json={"access_token": "exchanged-XXXXXXXX", "expires_in": 300, "token_type": "Bearer"})
    leak_guard.add("exchanged-XXXXXXXX")
    first = Impersonation().get_access_token(context(session.request()))
    second = Impersonation().get_access_token(context(session.request()))
    assert first == second == BearerTokenResult("exchanged-XXXXXXXX")
    [call] = responses.calls
    assert parse_qs(call.request.body) == {
        "grant_type": [TOKEN_EXCHANGE_GRANT],
        "subject_token": [sample_token(1).access_token],
        "subject_token_type": [ACCESS_TOKEN_TYPE],
        "requested_token_type": [ACCESS_TOKEN_TYPE],
        "audience": [API],
        "scope": ["orders.read"],
    }
    # LocMemCache's private dict: the bytes really stored
    raw = b"".join(bytes(v) for v in caches["default"]._cache.values())  # type: ignore[attr-defined]
    assert b"exchanged-XXXXXXXX" not in raw


@responses.activate
def test_a_new_subject_token_gets_a_new_exchange(user: Any) -> None:
    responses.post(TOKEN_URL, json={"access_token": "exchanged-XXXXXXXX", "expires_in": 300})
    TokenExchangeAccessTokenRetriever().get_access_token(context(Session(user, sample_token(1)).request()))
    TokenExchangeAccessTokenRetriever().get_access_token(context(Session(user, sample_token(2)).request()))
    assert len(responses.calls) == 2


@responses.activate
def test_short_lived_answers_are_cached_for_half_their_lifetime(user: Any) -> None:
    responses.post(TOKEN_URL, json={"access_token": "exchanged-XXXXXXXX", "expires_in": 30})
    session = Session(user, sample_token(1))
    for _ in range(2):
        TokenExchangeAccessTokenRetriever().get_access_token(context(session.request()))
    assert len(responses.calls) == 1
    responses.replace(responses.POST, TOKEN_URL, json={"access_token": "exchanged-XXXXXXXX", "expires_in": 1})
    caches["default"].clear()
    for _ in range(2):
        TokenExchangeAccessTokenRetriever().get_access_token(context(session.request()))
    assert len(responses.calls) == 3  # half of one second rounds to nothing: not cached


@responses.activate
def test_retrievers_that_differ_in_resource_do_not_share_tokens(user: Any) -> None:
    class Orders(TokenExchangeAccessTokenRetriever):
        audience = "https://api.example.test"
        resource = "https://api.example.test/orders"

    class Billing(Orders):
        resource = "https://api.example.test/billing"

    responses.post(TOKEN_URL, json={"access_token": "exchanged-orders-XXXXXXXX", "expires_in": 300})
    session = Session(user, sample_token(1))
    assert Orders().get_access_token(context(session.request())) == BearerTokenResult("exchanged-orders-XXXXXXXX")
    responses.replace(responses.POST, TOKEN_URL, json={"access_token": "exchanged-billing-XXXXXXXX", "expires_in": 300})
    assert Billing().get_access_token(context(session.request())) == BearerTokenResult("exchanged-billing-XXXXXXXX")
    assert [parse_qs(call.request.body)["resource"] for call in responses.calls] == [
        [Orders.resource],
        [Billing.resource],
    ]


@responses.activate
def test_garbage_in_the_cache_is_dropped(user: Any) -> None:
    responses.post(TOKEN_URL, json={"access_token": "exchanged-XXXXXXXX", "expires_in": 300})
    session = Session(user, sample_token(1))
    TokenExchangeAccessTokenRetriever().get_access_token(context(session.request()))
    # LocMemCache's private dict: the keys as stored
    for key in list(caches["default"]._cache):  # type: ignore[attr-defined]
        if "bff:exchange:" in key:
            caches["default"].set(key.split(":", 2)[-1], "f:garbage")  # the same key, made again by set()
    assert TokenExchangeAccessTokenRetriever().get_access_token(context(session.request())) == BearerTokenResult(
        "exchanged-XXXXXXXX"
    )


@pytest.mark.parametrize(
    "answer, expected",
    [
        ({"status": 503}, AccessTokenRetrievalError("token_service_unavailable", 503, 5)),
        ({"status": 400, "json": {"error": "invalid_grant"}}, AccessTokenRetrievalError("token_exchange_failed", 502)),
    ],
)
@responses.activate
def test_exchange_failures(user: Any, answer: dict[str, Any], expected: Any) -> None:
    responses.post(TOKEN_URL, **answer)
    result = TokenExchangeAccessTokenRetriever().get_access_token(context(Session(user, sample_token(1)).request()))
    assert result == expected


def test_no_user_token_no_exchange() -> None:
    from tests.support.token_sessions import anonymous_request

    result = TokenExchangeAccessTokenRetriever().get_access_token(context(anonymous_request()))
    assert result == AccessTokenRetrievalError("not_authenticated", 401)


# --- one exchange at a time (single flight) ----------------------------------------------------------


class _SubjectAtHand(TokenExchangeAccessTokenRetriever):
    """The user's token without a store read: the threads below share no database connection."""

    def get_user_token(self, context: AccessTokenRetrievalContext) -> TokenResult:
        return TokenResult(token=sample_token(1))


@responses.activate
def test_concurrent_exchanges_of_one_subject_make_one_token_request() -> None:
    import threading
    import time

    def slow_provider(request: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(0.3)  # both callers are past their cache read by now
        return 200, {}, json.dumps({"access_token": "exchanged-XXXXXXXX", "expires_in": 300})

    responses.add_callback(responses.POST, TOKEN_URL, callback=slow_provider)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def caller() -> None:
        barrier.wait()
        results.append(_SubjectAtHand().get_access_token(context(None)))

    threads = [threading.Thread(target=caller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [BearerTokenResult("exchanged-XXXXXXXX")] * 2
    assert len(responses.calls) == 1


@responses.activate
def test_an_exchange_another_worker_holds_too_long_is_transient(settings: Any) -> None:
    from django_bff.locks import CacheLock
    from django_bff.token_manager.client import exchange_cache_key

    settings.BFF = {**settings.BFF, "REFRESH_LOCK_WAIT": 0.1}
    retriever = _SubjectAtHand()
    data = retriever.exchange_parameters(context(None), sample_token(1).access_token)
    key = exchange_cache_key(sample_token(1).access_token, data, "default")
    other = CacheLock(caches["default"], key + ":lock", 30)
    assert other.acquire()
    try:
        result = retriever.get_access_token(context(None))
    finally:
        other.release()
    assert result == AccessTokenRetrievalError("refresh_lock_timeout", 503, 5)
    assert len(responses.calls) == 0


def test_a_cache_outage_is_storage_unavailable(monkeypatch: Any) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("the cache is down")

    monkeypatch.setattr(caches["default"], "get", down)
    result = _SubjectAtHand().get_access_token(context(None))
    assert result == AccessTokenRetrievalError("storage_unavailable", 503, 5)


# --- against the real identity provider ------------------------------------------------------------


class ExchangeForTheAPI(TokenExchangeAccessTokenRetriever):
    audience = API_RESOURCE


@pytest.mark.integration
def test_a_real_exchange_reaches_the_api(oidc: Any, settings: Any, bff_client: Any) -> None:
    from tests.support.login import browser_login, session_request
    from tests.support.resource_api import ResourceAPI

    with ResourceAPI(oidc.jwks_uri, oidc.issuer, API_RESOURCE) as api:
        settings.BFF = {
            **settings.BFF,
            "REMOTE_APIS": [
                {
                    "PREFIX": "api/impersonation/",
                    "TARGET": api.url + "/endpoint/requiring/impersonation/",
                    "RETRIEVER": "tests.token_manager.test_exchange.ExchangeForTheAPI",
                    "ALLOW_INSECURE": True,
                }
            ],
        }
        use_current_routes(settings)
        browser_login(bff_client)
        for _ in range(2):
            response = bff_client.get("/api/impersonation/orders", HTTP_X_CSRF="1")
            assert response.status_code == 200
            b"".join(response.streaming_content)
        seen = api.requests
        assert [r["status"] for r in seen] == [200, 200]
        claims = seen[0]["claims"]
        assert claims["act"] == {"sub": "bff"} and claims["sub"] == "alice" and claims["aud"] == API_RESOURCE
        from django_bff.stores import get_token_store

        assert seen[0]["token"] != get_token_store().get_token(session_request(bff_client)).access_token
        assert oidc.stats()["token"][TOKEN_EXCHANGE_GRANT] == 1
