"""The proxy's token types (user, client, either, none, optional) and the retriever each route uses."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from django.test import Client

from django_bff.retrievers import (
    AccessTokenRetrievalContext,
    AccessTokenRetriever,
    DPoPTokenResult,
)
from django_bff.testing import sample_token
from tests.support.proxy_browser import TOKEN_URL, Browser, body, read, route
from tests.support.retrievers import PatternRetriever
from tests.support.upstream import Upstream

pytestmark = pytest.mark.django_db(transaction=True)


# --- token types --------------------------------------------------------------------------------------


def test_none_route_sends_no_token(routes: Any, browser: Browser, upstream: Upstream) -> None:
    assert browser.call("GET", "/api/none/x").status_code == 200
    assert "authorization" not in upstream.last["headers"]


def test_optional_user_token(routes: Any, client: Client, user: Any, upstream: Upstream) -> None:
    assert read(client.get("/api/optional/x", HTTP_X_CSRF="1")).status_code == 200
    assert "authorization" not in upstream.last["headers"]
    client.force_login(user)  # logged in, but no tokens: still fine
    assert read(client.get("/api/optional/x", HTTP_X_CSRF="1")).status_code == 200
    Browser(client, user, sample_token(2))
    read(client.get("/api/optional/x", HTTP_X_CSRF="1"))
    assert upstream.last["headers"]["authorization"] == f"Bearer {sample_token(2).access_token}"


@responses.activate
def test_client_route_and_user_or_client(routes: Any, client: Client, user: Any, upstream: Upstream) -> None:
    responses.add_passthru(upstream.url)
    responses.post(TOKEN_URL, json={"access_token": "app-token-CCCCCCCC", "expires_in": 300})
    for _ in range(5):
        assert read(client.get("/api/client/x", HTTP_X_CSRF="1")).status_code == 200
    assert upstream.last["headers"]["authorization"] == "Bearer app-token-CCCCCCCC"
    assert len(responses.calls) == 1
    assert read(client.get("/api/either/x", HTTP_X_CSRF="1")).status_code == 200
    assert upstream.last["headers"]["authorization"] == "Bearer app-token-CCCCCCCC"
    Browser(client, user, sample_token(3))
    read(client.get("/api/either/x", HTTP_X_CSRF="1"))
    assert upstream.last["headers"]["authorization"] == f"Bearer {sample_token(3).access_token}"


@responses.activate
def test_a_client_route_can_require_a_logged_in_user(
    routes: Any, client: Client, user: Any, upstream: Upstream
) -> None:
    responses.add_passthru(upstream.url)
    responses.post(TOKEN_URL, json={"access_token": "app-token-DDDDDDDD", "expires_in": 300})
    routes(route("api/app/", upstream.url + "/v1/", TOKEN_TYPE="client", REQUIRE_AUTHENTICATION=True))
    response = read(client.get("/api/app/x", HTTP_X_CSRF="1"))
    assert response.status_code == 401 and response.json() == {"error": "not_authenticated"}
    assert upstream.requests == [] and len(responses.calls) == 0  # no token work for the anonymous call
    client.force_login(user)
    assert read(client.get("/api/app/x", HTTP_X_CSRF="1")).status_code == 200
    assert upstream.last["headers"]["authorization"] == "Bearer app-token-DDDDDDDD"


@responses.activate
def test_client_token_trouble(routes: Any, client: Client, upstream: Upstream) -> None:
    responses.add_passthru(upstream.url)
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    response = read(client.get("/api/client/x", HTTP_X_CSRF="1"))
    # A refusal a new login cannot fix: 502, never 401 (DESIGN: "never 401" for CLIENT routes).
    assert response.status_code == 502 and response.json() == {"error": "token_service_error"}
    responses.replace(responses.POST, TOKEN_URL, status=503)
    response = read(client.get("/api/client/x", HTTP_X_CSRF="1"))
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert upstream.requests == []


# --- retrievers ---------------------------------------------------------------------------------------


def test_retriever_precedence_route_then_pattern_then_default(
    routes: Any, browser: Browser, upstream: Upstream
) -> None:
    routes(
        route("api/own/", upstream.url + "/v1/", RETRIEVER="tests.support.retrievers.RouteRetriever"),
        route("api/reports/", upstream.url + "/v1/"),
        route("api/user/", upstream.url + "/v1/"),
        ACCESS_TOKEN_RETRIEVERS=[
            {"PATTERN": r"^/api/(own|reports)/", "RETRIEVER": "tests.support.retrievers.PatternRetriever"},
            {"PATTERN": r"^/api/reports/", "RETRIEVER": "tests.support.retrievers.NoTokenRetriever"},
        ],
    )
    PatternRetriever.instances.clear()
    browser.call("GET", "/api/own/x")
    assert upstream.last["headers"]["authorization"] == "Bearer route-retriever-token"
    browser.call("GET", "/api/reports/x")
    browser.call("GET", "/api/reports/y")
    assert upstream.last["headers"]["authorization"] == "Bearer pattern-retriever-token"
    assert len(PatternRetriever.instances) == 2  # one instance per request
    browser.call("GET", "/api/user/x")
    assert upstream.last["headers"]["authorization"] == f"Bearer {sample_token(1).access_token}"


def test_a_retriever_returning_garbage_is_a_server_error(routes: Any, browser: Browser, upstream: Upstream) -> None:
    routes(route("api/broken/", upstream.url + "/v1/", RETRIEVER="tests.support.retrievers.BrokenRetriever"))
    response = browser.call("GET", "/api/broken/x")
    assert response.status_code == 500 and upstream.requests == []


def test_dpop_token_gets_a_proof_and_one_nonce_retry(routes: Any, browser: Browser, upstream: Upstream) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private_jwk = jwt.algorithms.ECAlgorithm.to_jwk(key)

    class DPoPRetriever(AccessTokenRetriever):
        def get_access_token(self, context: AccessTokenRetrievalContext) -> Any:
            return DPoPTokenResult("dpop-bound-token-DDDD", private_jwk)

    from django_bff.proxy import RemoteAPIView

    view = RemoteAPIView.as_view(upstream=upstream.url + "/v1/", retriever_class=DPoPRetriever, allow_insecure=True)
    from django.test import RequestFactory

    request = RequestFactory().get("/api/dpop/dpop-nonce", HTTP_X_CSRF="1")
    request.user = browser.client.session  # not used by this retriever
    response = view(request, path="dpop-nonce")
    assert response.status_code == 200 and json.loads(body(response)) == {"nonce": True}
    first, second = upstream.requests[-2:]
    assert first["headers"]["authorization"] == second["headers"]["authorization"] == "DPoP dpop-bound-token-DDDD"
    claims = jwt.decode(
        second["headers"]["dpop"], jwt.PyJWK(json.loads(private_jwk)).key.public_key(), algorithms=["ES256"]
    )
    assert (
        claims["htm"] == "GET"
        and claims["htu"] == upstream.url + "/v1/dpop-nonce"
        and claims["nonce"] == Upstream.NONCE
    )
    assert claims["ath"] and first["headers"]["dpop"] != second["headers"]["dpop"]
    assert "d" not in jwt.get_unverified_header(second["headers"]["dpop"])["jwk"]
