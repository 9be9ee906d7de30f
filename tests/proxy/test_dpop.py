"""DPoP calls through the proxy (RFC 9449): a fresh proof on every call, the API's nonce remembered per origin.

The API is :class:`tests.support.resource_api.ResourceAPI`, which checks every proof as an API must; its
own checks are proven here first, each by a proof it must refuse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.core.cache import caches
from django.test import Client

from django_bff import dpop
from django_bff.dpop_nonces import nonce_for, origin_scope
from tests.support.dpop_tokens import AUDIENCE, ISSUER, BoundToken, bound_token
from tests.support.keys import KEY
from tests.support.proxy_browser import Browser, asgi_call, route
from tests.support.resource_api import ResourceAPI

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Iterator[ResourceAPI]:
    caches["default"].clear()  # no nonce remembered from another test's API
    with ResourceAPI(None, ISSUER, AUDIENCE, key=KEY) as server:
        yield server


@pytest.fixture
def bound() -> BoundToken:
    return bound_token()


@pytest.fixture
def dpop_browser(
    routes: Any, api: ResourceAPI, client: Client, user: Any, leak_guard: Any, bound: BoundToken
) -> Browser:
    routes(route("api/dpop/", api.url + "/v1/"))
    token = bound.user_token()
    leak_guard.add_token(token)  # the access token, and the key's private members
    return Browser(client, user, token)


def call(api: ResourceAPI, bound: BoundToken, method: str = "GET", path: str = "/v1/x", **proof: Any) -> int:
    """One call straight to the API with a proof made here; ``proof`` overrides make_proof's arguments."""
    args: dict[str, Any] = {
        "private_jwk": bound.private_jwk,
        "method": method,
        "url": api.url + path,
        "access_token": bound.access_token,
        "nonce": None,
    }
    args.update(proof)
    headers = {"Authorization": f"DPoP {bound.access_token}", "DPoP": dpop.make_proof(**args)}
    return requests.request(method, api.url + path, headers=headers, timeout=10).status_code


# --- the test API checks each proof ----------------------------------------------------------------------


def test_the_api_accepts_a_good_proof_and_refuses_each_bad_one(api: ResourceAPI, bound: BoundToken) -> None:
    assert call(api, bound) == 200
    other = bound_token()
    assert call(api, bound, private_jwk=other.private_jwk) == 401  # cnf.jkt names another key
    assert call(api, bound, method="GET", url=api.url + "/v1/elsewhere") == 401  # htu
    assert call(api, bound, path="/v1/x", method="GET", url=api.url + "/v1/x", access_token="another") == 401  # ath
    headers = {
        "Authorization": f"DPoP {bound.access_token}",
        "DPoP": dpop.make_proof(bound.private_jwk, "POST", api.url + "/v1/x", bound.access_token),
    }
    assert requests.get(api.url + "/v1/x", headers=headers, timeout=10).status_code == 401  # htm
    assert [r["dpop_error"] for r in api.requests] == [None] + ["invalid_dpop_proof"] * 4


def test_the_api_refuses_a_replayed_proof_a_stale_one_a_bearer_bound_token_and_a_wrong_typ(
    api: ResourceAPI, bound: BoundToken
) -> None:
    import jwt

    from django_bff.clock import clock

    proof = dpop.make_proof(bound.private_jwk, "GET", api.url + "/v1/x", bound.access_token)
    headers = {"Authorization": f"DPoP {bound.access_token}", "DPoP": proof}
    assert requests.get(api.url + "/v1/x", headers=headers, timeout=10).status_code == 200
    assert requests.get(api.url + "/v1/x", headers=headers, timeout=10).status_code == 401  # the same jti
    bearer = {"Authorization": f"Bearer {bound.access_token}"}
    assert requests.get(api.url + "/v1/x", headers=bearer, timeout=10).status_code == 401  # bound: never as Bearer
    clock.advance(-2 * ResourceAPI.IAT_WINDOW)
    try:
        stale = dpop.make_proof(bound.private_jwk, "GET", api.url + "/v1/x", bound.access_token)
    finally:
        clock.reset()
    headers["DPoP"] = stale
    assert requests.get(api.url + "/v1/x", headers=headers, timeout=10).status_code == 401  # iat
    claims = jwt.decode(proof, options={"verify_signature": False})
    key = jwt.PyJWK(json.loads(bound.private_jwk), algorithm="ES256")
    public = {k: v for k, v in json.loads(bound.private_jwk).items() if k != "d"}
    claims["jti"] = "another-jti"
    headers["DPoP"] = jwt.encode(claims, key.key, algorithm="ES256", headers={"typ": "JWT", "jwk": public})
    assert requests.get(api.url + "/v1/x", headers=headers, timeout=10).status_code == 401  # typ
    assert [r["status"] for r in api.requests] == [200, 401, 401, 401, 401]


def test_the_api_demands_its_nonce(api: ResourceAPI, bound: BoundToken) -> None:
    api.demand_nonces()
    response_status = call(api, bound)
    assert response_status == 401 and api.requests[-1]["dpop_error"] == "use_dpop_nonce"
    assert call(api, bound, nonce="not-the-nonce") == 401
    assert call(api, bound, nonce=api.nonce) == 200


# --- the proxy --------------------------------------------------------------------------------------------


def test_every_proxied_call_carries_a_fresh_proof_the_api_accepts(dpop_browser: Browser, api: ResourceAPI) -> None:
    for _ in range(3):
        assert dpop_browser.call("GET", "/api/dpop/orders?page=2").status_code == 200
    assert dpop_browser.call("POST", "/api/dpop/orders", data=b"{}", content_type="application/json").status_code == 200
    seen = api.requests
    assert [r["dpop_error"] for r in seen] == [None] * 4 and seen[-1]["body"] == b"{}"
    assert len({r["headers"]["DPoP"] for r in seen}) == 4


def test_an_api_demanding_nonces_ten_calls_all_200_at_most_two_refusals(
    dpop_browser: Browser, api: ResourceAPI
) -> None:
    api.demand_nonces(rotate_every=4)  # a new nonce after every 4 calls, announced in a 200's DPoP-Nonce
    statuses = [dpop_browser.call("GET", f"/api/dpop/orders/{n}").status_code for n in range(5)]
    api.rotate_nonce()  # and once without a word: the next call's nonce is refused
    statuses += [dpop_browser.call("GET", f"/api/dpop/orders/{n}").status_code for n in range(5)]
    assert statuses == [200] * 10
    assert api.nonce_refusals == 2  # the first call's, and the one after the silent rotation
    assert len(api.requests) == 12
    assert nonce_for(origin_scope(api.url)) == api.nonce


def test_a_nonce_learnt_by_one_session_serves_another(
    dpop_browser: Browser, api: ResourceAPI, django_user_model: Any
) -> None:
    """The nonce is kept per API origin in the shared cache, not per session or per process."""
    api.demand_nonces()
    assert dpop_browser.call("GET", "/api/dpop/a").status_code == 200
    other = Browser(Client(), django_user_model.objects.create_user("bob"), bound_token("bob").user_token(2))
    assert other.call("GET", "/api/dpop/b").status_code == 200
    assert api.nonce_refusals == 1 and len(api.requests) == 3


def test_a_small_body_is_sent_again_with_the_nonce(dpop_browser: Browser, api: ResourceAPI) -> None:
    api.demand_nonces()
    response = dpop_browser.call("PUT", "/api/dpop/orders/1", data=b'{"n": 1}', content_type="application/json")
    assert response.status_code == 200
    refused, accepted = api.requests
    assert refused["dpop_error"] == "use_dpop_nonce" and refused["body"] == accepted["body"] == b'{"n": 1}'


def test_a_body_too_large_to_replay_gets_the_refusal_then_the_remembered_nonce(
    dpop_browser: Browser, api: ResourceAPI, settings: Any
) -> None:
    settings.BFF = {**settings.BFF, "DPOP_REPLAY_MAX_BODY": 4}
    api.demand_nonces()
    upload = b"x" * 5
    refused = dpop_browser.call("POST", "/api/dpop/upload", data=upload, content_type="application/octet-stream")
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == 'DPoP error="use_dpop_nonce"'
    assert len(api.requests) == 1  # streamed once, never sent again
    accepted = dpop_browser.call("POST", "/api/dpop/upload", data=upload, content_type="application/octet-stream")
    assert accepted.status_code == 200 and api.requests[-1]["body"] == upload  # the nonce learnt from the refusal
    assert api.nonce_refusals == 1


def test_a_dpop_nonce_on_a_200_replaces_the_remembered_one(dpop_browser: Browser, api: ResourceAPI) -> None:
    api.demand_nonces(rotate_every=1)  # every answer announces the next nonce
    for n in range(4):
        assert dpop_browser.call("GET", f"/api/dpop/{n}").status_code == 200
    assert api.nonce_refusals == 1 and nonce_for(origin_scope(api.url)) == api.nonce


@pytest.mark.parametrize("proxy_async", [True, False], ids=["async", "threads"])
def test_under_asgi_too(
    dpop_browser: Browser, api: ResourceAPI, async_client: Any, settings: Any, proxy_async: bool
) -> None:
    settings.BFF = {**settings.BFF, "PROXY_ASYNC": proxy_async}
    api.demand_nonces()
    async_client.cookies = dpop_browser.client.cookies

    def fetch(n: int) -> int:
        response, _ = asgi_call(async_client, "POST", f"/api/dpop/{n}", data=b"{}", content_type="application/json")
        return int(response.status_code)

    assert [fetch(n) for n in range(3)] == [200] * 3
    assert api.nonce_refusals == 1 and [r["body"] for r in api.requests] == [b"{}"] * 4
