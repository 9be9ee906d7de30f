"""Named clients (BFF["CLIENTS"]) for the client-credentials grant."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from django_bff.clients import ClientConfig, get_client
from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.token_manager import get_client_access_token
from django_bff.tokens import TokenError

ISSUER = "http://127.0.0.1:9"
BILLING_TOKEN = "https://billing-idp.example/token"
CLIENTS = {
    "billing": {
        "CLIENT_ID": "bff-billing",
        "CLIENT_SECRET": "billing-secret",
        "TOKEN_ENDPOINT": BILLING_TOKEN,
        "SCOPE": "billing.read",
        "RESOURCE": "https://billing.example",
    },
    "reports": {
        "CLIENT_ID": "bff-reports",
        "CLIENT_SECRET": "reports-secret",
        "AUTH_METHOD": "client_secret_post",
        "ISSUER": "https://reports-idp.example",
    },
    "plain": {"CLIENT_ID": "bff-plain", "CLIENT_SECRET": "plain-secret"},
}


@pytest.fixture
def clients(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "CLIENTS": CLIENTS}


def answer(token: str) -> dict[str, Any]:
    return {"access_token": token, "expires_in": 300, "token_type": "Bearer"}


@responses.activate
def test_a_named_client_uses_its_own_credentials_endpoint_scope_and_resource(clients: None) -> None:
    responses.post(BILLING_TOKEN, json=answer("billing-AAAAAAAA"))
    assert get_client_access_token("billing").access_token == "billing-AAAAAAAA"
    assert get_client_access_token("billing").access_token == "billing-AAAAAAAA"
    [call] = responses.calls
    assert call.request.headers["Authorization"] == "Basic " + base64.b64encode(b"bff-billing:billing-secret").decode()
    assert parse_qs(call.request.body) == {
        "grant_type": ["client_credentials"],
        "scope": ["billing.read"],
        "resource": ["https://billing.example"],
    }
    get_client_access_token("billing", scope="billing.write")
    assert parse_qs(responses.calls[1].request.body)["scope"] == ["billing.write"]


@responses.activate
def test_client_secret_post_and_discovery_by_issuer(clients: None) -> None:
    responses.get(
        "https://reports-idp.example/.well-known/openid-configuration",
        json={"issuer": "https://reports-idp.example", "token_endpoint": "https://reports-idp.example/oauth/token"},
    )
    responses.post("https://reports-idp.example/oauth/token", json=answer("reports-AAAAAAAA"))
    assert get_client_access_token("reports").access_token == "reports-AAAAAAAA"
    request = responses.calls[1].request
    assert "Authorization" not in request.headers
    assert parse_qs(request.body) == {
        "grant_type": ["client_credentials"],
        "client_id": ["bff-reports"],
        "client_secret": ["reports-secret"],
    }


@responses.activate
def test_tokens_of_different_clients_never_mix(clients: None) -> None:
    responses.post(ISSUER + "/token", json=answer("plain-AAAAAAAA"))
    responses.post(BILLING_TOKEN, json=answer("billing-AAAAAAAA"))
    assert get_client_access_token("plain").access_token == "plain-AAAAAAAA"  # the OIDC provider's endpoint
    assert get_client_access_token("billing").access_token == "billing-AAAAAAAA"
    responses.replace(responses.POST, ISSUER + "/token", json=answer("default-AAAAAAAA"))
    assert get_client_access_token().access_token == "default-AAAAAAAA"
    assert get_client_access_token("plain").access_token == "plain-AAAAAAAA"
    assert len(responses.calls) == 3


def test_default_is_the_oidc_client_unless_defined(settings: Any, clients: None) -> None:
    default = get_client()
    assert (default.client_id, default.client_secret, default.auth_method) == (
        "bff",
        "bff-secret",
        "client_secret_basic",
    )
    settings.OIDC_TOKEN_USE_BASIC_AUTH = False
    assert get_client().auth_method == "client_secret_post"
    settings.BFF = {**settings.BFF, "CLIENTS": {"default": {"CLIENT_ID": "other", "CLIENT_SECRET": "s"}}}
    assert get_client().client_id == "other"
    assert "s-e-c-r-e-t" not in repr(ClientConfig("x", "id", "s-e-c-r-e-t"))


def test_unknown_or_broken_clients(settings: Any, clients: None) -> None:
    with pytest.raises(BFFImproperlyConfigured, match="unknown client 'nope'"):
        get_client("nope")
    with pytest.raises(BFFImproperlyConfigured, match="unknown client"):
        get_client_access_token("nope")
    settings.BFF = {
        **settings.BFF,
        "CLIENTS": {"x": {"CLIENT_SECRET": "s"}, "y": {"CLIENT_ID": "y", "AUTH_METHOD": "magic"}},
    }
    with pytest.raises(BFFImproperlyConfigured, match="needs a CLIENT_ID"):
        get_client("x")
    with pytest.raises(BFFImproperlyConfigured, match="unknown AUTH_METHOD"):
        get_client("y")
    settings.OIDC_RP_CLIENT_ID = None
    with pytest.raises(BFFImproperlyConfigured, match="OIDC_RP_CLIENT_ID"):
        get_client("default")


@responses.activate
def test_no_token_endpoint_known(settings: Any) -> None:
    settings.OIDC_OP_TOKEN_ENDPOINT = None
    settings.BFF = {**settings.BFF, "AUTHORITY": None, "CLIENTS": {"c": {"CLIENT_ID": "c", "CLIENT_SECRET": "s"}}}
    with pytest.raises(BFFImproperlyConfigured, match="no token endpoint"):
        get_client_access_token("c")


def test_routes_may_name_configured_clients(clients: None) -> None:
    from django_bff.proxy import remote_api

    assert remote_api("api/billing/", "https://billing.example/", token_type="client", client="billing")
    with pytest.raises(BFFImproperlyConfigured, match="unknown client"):
        remote_api("api/x/", "https://x.example/", token_type="client", client="nope")


# --- against the real identity provider ------------------------------------------------------------


@pytest.mark.integration
def test_client_secret_post_at_the_real_idp(oidc: Any, settings: Any) -> None:
    settings.BFF = {
        **settings.BFF,
        "CLIENTS": {
            "post": {
                "CLIENT_ID": "bff-post",
                "CLIENT_SECRET": "bff-post-secret",
                "AUTH_METHOD": "client_secret_post",
                "ISSUER": oidc.issuer,
            },
            "wrong": {"CLIENT_ID": "bff-post", "CLIENT_SECRET": "bff-post-secret", "ISSUER": oidc.issuer},
        },
    }
    result = get_client_access_token("post")
    assert result.token is not None and result.token.expires_in() > 0
    assert get_client_access_token("post").token == result.token
    # The provider accepts only the method the client is registered with.
    assert get_client_access_token("wrong").error is TokenError.TOKEN_SERVICE_ERROR
    assert oidc.stats()["token"]["client_credentials"] == 2
