"""The auth objects with DPoP-bound tokens: a fresh proof on every request, the API's nonce shared with the proxy.

The API is :class:`tests.support.resource_api.ResourceAPI`, which checks every proof as an API must. (The
auth objects' bearer flow against a real provider: ``tests/integration/test_tokens.py``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.core.cache import caches
from django.test import Client

from django_bff.dpop_nonces import nonce_for, origin_scope, remember_nonce
from django_bff.http import ClientAccessTokenAuth, UserAccessTokenAuth
from django_bff.tokens import ClientToken, TokenResult
from tests.support.dpop_tokens import AUDIENCE, ISSUER, BoundToken, bound_token
from tests.support.keys import KEY
from tests.support.resource_api import ResourceAPI
from tests.support.sessions import logged_in_session, session_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Iterator[ResourceAPI]:
    caches["default"].clear()
    with ResourceAPI(None, ISSUER, AUDIENCE, key=KEY) as server:
        yield server


@pytest.fixture
def bound() -> BoundToken:
    return bound_token()


@pytest.fixture
def auth(user: Any, bound: BoundToken, leak_guard: Any) -> UserAccessTokenAuth:
    token = bound.user_token()
    leak_guard.add_token(token)
    client = Client()
    logged_in_session(client, user, token)
    return UserAccessTokenAuth(session_request(client))


class DPoPClientAuth(ClientAccessTokenAuth):
    """ClientAccessTokenAuth with a DPoP-bound client token of the test's making (until the provider binds one)."""

    def __init__(self, tokens: list[BoundToken]) -> None:
        super().__init__("default")
        self.tokens = tokens
        self.renewals = 0

    def get_token(self, force_renewal: bool) -> TokenResult:
        self.renewals += force_renewal
        bound = self.tokens[min(self.renewals, len(self.tokens) - 1)]
        return TokenResult(ClientToken(bound.access_token, "DPoP", dpop_jwk=bound.private_jwk))


def test_every_request_carries_a_fresh_proof_the_api_accepts(api: ResourceAPI, auth: UserAccessTokenAuth) -> None:
    for _ in range(3):
        assert requests.get(api.url + "/orders?x=1", auth=auth, timeout=10).status_code == 200
    assert requests.post(api.url + "/orders", data=b"{}", auth=auth, timeout=10).status_code == 200
    seen = api.requests
    assert [r["dpop_error"] for r in seen] == [None] * 4
    assert all(r["headers"]["Authorization"].startswith("DPoP ") for r in seen)


def test_an_api_demanding_nonces_ten_calls_all_200_at_most_two_refusals(
    api: ResourceAPI, auth: UserAccessTokenAuth
) -> None:
    api.demand_nonces(rotate_every=3)
    statuses = [requests.get(api.url + f"/o/{n}", auth=auth, timeout=10).status_code for n in range(5)]
    api.rotate_nonce()
    statuses += [requests.post(api.url + f"/o/{n}", data=b"{}", auth=auth, timeout=10).status_code for n in range(5)]
    assert statuses == [200] * 10
    assert api.nonce_refusals == 2 and len(api.requests) == 12
    assert nonce_for(origin_scope(api.url)) == api.nonce


def test_the_proxy_and_the_auth_objects_share_the_apis_nonce(api: ResourceAPI, auth: UserAccessTokenAuth) -> None:
    api.demand_nonces()
    remember_nonce(origin_scope(api.url + "/elsewhere"), api.nonce)  # as the proxy (or another process) left it
    assert requests.get(api.url + "/x", auth=auth, timeout=10).status_code == 200
    assert api.nonce_refusals == 0


def test_a_stream_is_sent_once_with_the_remembered_nonce(api: ResourceAPI, auth: UserAccessTokenAuth) -> None:
    api.demand_nonces()
    refused = requests.post(api.url + "/upload", data=iter([b"a", b"b"]), auth=auth, timeout=10)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'DPoP error="use_dpop_nonce"'
    assert len(api.requests) == 1
    accepted = requests.post(api.url + "/upload", data=iter([b"a", b"b"]), auth=auth, timeout=10)
    assert accepted.status_code == 200 and api.nonce_refusals == 1


def test_client_access_token_auth_sends_proofs_handles_nonces_and_renews(api: ResourceAPI) -> None:
    first, second = bound_token("app"), bound_token("app")
    auth = DPoPClientAuth([first, second])
    api.demand_nonces()
    assert requests.get(api.url + "/catalog", auth=auth, timeout=10).status_code == 200
    assert api.nonce_refusals == 1 and auth.renewals == 0
    api.reject_next(1)  # a 401 that is not about the nonce: renewed once, with a proof by the new token's key
    renewed = requests.post(api.url + "/catalog", data=b"{}", auth=auth, timeout=10)
    assert renewed.status_code == 200 and [r.status_code for r in renewed.history] == [401]
    assert auth.renewals == 1 and api.requests[-1]["token"] == second.access_token
    assert api.requests[-1]["dpop_error"] is None


def test_a_bearer_token_reads_no_nonce(api: ResourceAPI, user: Any, monkeypatch: Any) -> None:
    from django_bff import http

    def no_nonce(scope: str) -> str | None:
        raise AssertionError("a bearer call read a nonce")

    monkeypatch.setattr(http, "nonce_for", no_nonce)
    client = Client()
    import jwt

    unbound = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": 2**31}, KEY, algorithm="RS256")
    logged_in_session(
        client, user, bound_token().user_token(access_token=unbound, access_token_type="Bearer", dpop_jwk=None)
    )
    response = requests.get(api.url + "/x", auth=UserAccessTokenAuth(session_request(client)), timeout=10)
    assert response.status_code == 200 and "DPoP" not in response.request.headers
    assert response.request.headers["Authorization"] == f"Bearer {unbound}"
