"""DPoP from login to API: the real provider binds the session's tokens, the test API checks every proof.

With ``BFF["DPOP"] = True`` a real login (``/bff/login``, the provider's form,
the callback) gets a token bound to the session's key; every proxied call
reaches :class:`~tests.support.resource_api.ResourceAPI`, which checks the
proof as an API must (signature, ``typ``, ``htm``, ``htu``, ``iat``, ``ath``,
``jti`` replay and the token's ``cnf.jkt``); a refresh keeps the binding, so
the calls after it pass the same checks; an API that demands nonces costs one
refusal, not one per call.
"""

from __future__ import annotations

from typing import Any

import pytest

from django_bff.dpop import jwk_thumbprint
from tests.support.dpop import bff_login, claims, use_dpop_client
from tests.support.idp import API_RESOURCE
from tests.support.login import expire
from tests.support.proxy_browser import read
from tests.support.resource_api import ResourceAPI
from tests.support.urlconf import use_current_routes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def api(oidc: Any, settings: Any) -> Any:
    with ResourceAPI(oidc.jwks_uri, oidc.issuer, API_RESOURCE) as resource:
        settings.BFF = {
            **settings.BFF,
            "REMOTE_APIS": [
                {"PREFIX": "api/orders/", "TARGET": resource.url + "/v1/orders/", "ALLOW_INSECURE": True},
                {
                    "PREFIX": "api/catalog/",
                    "TARGET": resource.url + "/v1/catalog/",
                    "TOKEN_TYPE": "client",
                    "ALLOW_INSECURE": True,
                },
                {
                    "PREFIX": "api/billing/",
                    "TARGET": resource.url + "/v1/billing/",
                    "TOKEN_TYPE": "client",
                    "CLIENT": "billing",
                    "ALLOW_INSECURE": True,
                },
            ],
        }
        use_current_routes(settings)
        yield resource


def call(client: Any, path: str) -> int:
    """GET ``path`` through the proxy and read the answer whole, as a browser does (which also closes it)."""
    return int(read(client.get(path, HTTP_X_CSRF="1")).status_code)


def bound_keys(api: Any) -> set[str]:
    """The ``cnf.jkt`` of every token the API accepted."""
    return {r["claims"]["cnf"]["jkt"] for r in api.requests if r["status"] == 200}


def test_a_dpop_session_calls_an_api_that_checks_every_proof_before_and_after_a_refresh(
    oidc: Any, api: Any, bff_client: Any, settings: Any
) -> None:
    use_dpop_client(settings)
    parameters = bff_login(bff_client)
    for n in range(3):
        assert call(bff_client, f"/api/orders/{n}?x=1") == 200
    before = expire(bff_client)
    assert call(bff_client, "/api/orders/after-refresh") == 200
    assert oidc.stats()["token"]["refresh_token"] == 1
    accepted = [r for r in api.requests if r["status"] == 200]
    assert len(accepted) == 4 and all(r["headers"]["Authorization"].startswith("DPoP ") for r in accepted)
    # Every call's token was bound to the session's one key, the key of the authorization request.
    assert bound_keys(api) == {parameters["dpop_jkt"]} == {jwk_thumbprint(before.dpop_jwk or "")}
    assert accepted[-1]["token"] != before.access_token  # the refreshed token, bound to the same key
    assert claims(accepted[-1]["token"])["cnf"] == {"jkt": parameters["dpop_jkt"]}


def test_two_sessions_call_with_two_keys(oidc: Any, api: Any, settings: Any) -> None:
    from django.test import Client

    use_dpop_client(settings)
    alice, bob = Client(HTTP_HOST="127.0.0.1"), Client(HTTP_HOST="127.0.0.1")
    keys = [bff_login(alice)["dpop_jkt"], bff_login(bob, login="bob")["dpop_jkt"]]
    for browser in (alice, bob):
        assert call(browser, "/api/orders/1") == 200
    assert keys[0] != keys[1] and bound_keys(api) == set(keys)


def test_an_api_demanding_nonces_costs_one_refusal_for_ten_calls(
    oidc: Any, api: Any, bff_client: Any, settings: Any
) -> None:
    use_dpop_client(settings)
    bff_login(bff_client)
    api.demand_nonces()
    statuses = [call(bff_client, f"/api/orders/{n}") for n in range(10)]
    assert statuses == [200] * 10
    assert api.nonce_refusals == 1


@pytest.mark.parametrize("route", ["catalog", "billing"])
def test_a_client_route_of_a_dpop_client_sends_a_bound_client_credentials_token(
    oidc: Any, api: Any, bff_client: Any, settings: Any, route: str
) -> None:
    from tests.support.dpop import DPOP_CLIENTS

    if route == "catalog":
        use_dpop_client(settings)  # the default client is the OIDC client itself, with BFF["DPOP"] = True
    else:  # a named client opts in by itself; BFF["DPOP"] stays off
        named = {"CLIENT_ID": "bff-dpop-nonce", "CLIENT_SECRET": DPOP_CLIENTS["bff-dpop-nonce"], "DPOP": True}
        settings.BFF = {**settings.BFF, "CLIENTS": {"billing": named}}
        use_current_routes(settings)  # the route of the billing client, now that it exists
    assert [call(bff_client, f"/api/{route}/items") for _ in range(2)] == [200, 200]
    [first, second] = [r for r in api.requests if r["status"] == 200]
    assert first["headers"]["Authorization"].startswith("DPoP ") and first["claims"]["cnf"]["jkt"]
    assert first["token"] == second["token"]  # the cached client token, with its key
    # One token for both calls; bff-dpop-nonce's provider refused the first request for its nonce.
    refusals = 1 if route == "billing" else 0
    assert oidc.stats()["token"]["client_credentials"] == 1 + refusals
    assert oidc.stats()["token_errors"].get("use_dpop_nonce", 0) == refusals
