"""The proxy end to end: a real login at the real identity provider, a real JWT-validating API."""

from __future__ import annotations

from typing import Any

import pytest

from django_bff.tokens import TokenType
from tests.support.idp import API_RESOURCE, IdentityProvider
from tests.support.login import browser_login, expire, point_at, session_request
from tests.support.resource_api import ResourceAPI
from tests.support.urlconf import use_current_routes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def api(oidc: Any) -> Any:
    with ResourceAPI(oidc.jwks_uri, oidc.issuer, API_RESOURCE) as resource:
        yield resource


@pytest.fixture
def proxied(settings: Any, api: Any) -> Any:
    settings.BFF = {
        **settings.BFF,
        "REMOTE_APIS": [
            {
                "PREFIX": "api/orders/",
                "TARGET": api.url + "/v1/orders/",
                "TOKEN_TYPE": TokenType.USER,
                "ALLOW_INSECURE": True,
            },
            {
                "PREFIX": "api/catalog/",
                "TARGET": api.url + "/v1/catalog/",
                "TOKEN_TYPE": "client",
                "ALLOW_INSECURE": True,
            },
        ],
    }
    use_current_routes(settings)
    return api


def read(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_api_sees_the_users_token_and_only_what_it_should(oidc: Any, proxied: Any, bff_client: Any) -> None:
    browser_login(bff_client)
    response = bff_client.post(
        "/api/orders/42/items?expand=price",
        data=b'{"sku": "A-1"}',
        content_type="application/json",
        HTTP_X_CSRF="1",
        HTTP_AUTHORIZATION="Bearer something-the-browser-made-up",
        REMOTE_ADDR="192.0.2.7",
    )
    assert response.status_code == 200, read(response)
    [seen] = proxied.requests
    assert seen["status"] == 200 and seen["claims"]["sub"] == "alice" and seen["claims"]["client_id"] == "bff"
    assert seen["method"] == "POST" and seen["path"] == "/v1/orders/42/items" and seen["query"] == "expand=price"
    assert seen["body"] == b'{"sku": "A-1"}'
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert "cookie" not in headers and "x-csrf" not in headers
    assert headers["authorization"] != "Bearer something-the-browser-made-up"
    assert headers["x-forwarded-for"] == "192.0.2.7"
    assert headers["x-forwarded-proto"] == "http" and headers["x-forwarded-host"] == "127.0.0.1"
    assert seen["token"] not in read(response).decode()


def test_an_expired_token_is_refreshed_on_the_next_call(oidc: Any, proxied: Any, bff_client: Any) -> None:
    browser_login(bff_client)
    old = expire(bff_client)
    for _ in range(3):
        response = bff_client.get("/api/orders/", HTTP_X_CSRF="1")
        assert response.status_code == 200
        read(response)
    assert oidc.stats()["token"]["refresh_token"] == 1
    tokens = {r["token"] for r in proxied.requests}
    assert len(tokens) == 1 and old.access_token not in tokens


def test_a_revoked_grant_answers_session_expired(oidc: Any, proxied: Any, bff_client: Any) -> None:
    from django_bff.token_manager import revoke_refresh_token

    browser_login(bff_client)
    assert revoke_refresh_token(session_request(bff_client))
    expire(bff_client)
    response = bff_client.get("/api/orders/", HTTP_X_CSRF="1")
    assert response.status_code == 401 and response.json() == {"error": "session_expired"}
    assert proxied.requests == []
    assert bff_client.get("/api/orders/", HTTP_X_CSRF="1").json() == {"error": "not_authenticated"}


def test_client_route_thousand_calls_one_token_request(oidc: Any, proxied: Any, bff_client: Any) -> None:
    for _ in range(1000):
        response = bff_client.get("/api/catalog/items", HTTP_X_CSRF="1")
        assert response.status_code == 200
        read(response)
    assert oidc.stats()["token"]["client_credentials"] == 1
    assert len(proxied.requests) == 1000
    assert {r["claims"]["sub"] for r in proxied.requests} == {"bff"}  # the client itself


def test_idp_down_answers_503_and_keeps_the_session(settings: Any, bff_client: Any, transactional_db: Any) -> None:
    provider = IdentityProvider(access_token_ttl=120)
    provider.start()
    try:
        point_at(settings, provider)
        with ResourceAPI(provider.jwks_uri, provider.issuer, API_RESOURCE) as api:
            settings.BFF = {
                **settings.BFF,
                "REMOTE_APIS": [{"PREFIX": "api/orders/", "TARGET": api.url + "/", "ALLOW_INSECURE": True}],
            }
            use_current_routes(settings)
            browser_login(bff_client)
            expire(bff_client)
            provider.stop()
            response = bff_client.get("/api/orders/", HTTP_X_CSRF="1")
            assert response.status_code == 503 and response.json() == {"error": "token_service_unavailable"}
            assert int(response["Retry-After"]) > 0
            assert api.requests == []
            assert session_request(bff_client).user.username
    finally:
        provider.stop()


def test_a_cold_cache_burst_across_four_processes_makes_one_token_request(
    oidc: Any, redis_cache: str, settings: Any
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from django.conf import settings as django_settings

    from tests.support.servers import serve
    from tests.support.upstream import Upstream

    with Upstream() as upstream:
        env = {
            "BFF_TEST_DB": django_settings.DATABASES["default"]["NAME"],
            "BFF_TEST_REDIS_URL": redis_cache,
            "BFF_TEST_ISSUER": oidc.issuer,
            "BFF_TEST_UPSTREAM": upstream.url,
        }
        with serve("gunicorn-sync", env, workers=4) as server:
            barrier = threading.Barrier(16)

            def call(_: int) -> int:
                barrier.wait()
                return requests.get(server.url + "/api/client/items", headers={"X-CSRF": "1"}, timeout=30).status_code

            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(call, range(16)))
        assert statuses == [200] * 16
        assert oidc.stats()["token"]["client_credentials"] == 1
        tokens = {r["headers"].get("authorization") for r in upstream.requests}
        assert len(tokens) == 1 and next(iter(tokens)).startswith("Bearer ")
