"""DPoP (RFC 9449) end to end on the provider's side: the real identity provider binds what django_bff gets.

The provider registers ``bff-dpop`` and ``bff-dpop-nonce`` with
``dpop_bound_access_tokens``: a token request of theirs without a proof fails,
and their JWT access tokens name the key in ``cnf.jkt``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.sessions.models import Session

from django_bff.dpop import jwk_thumbprint
from django_bff.retrievers import AccessTokenRetrievalContext, DefaultAccessTokenRetriever, DPoPTokenResult
from django_bff.stores import get_token_store
from django_bff.token_manager import get_client_access_token, get_user_access_token
from django_bff.tokens import ClientToken, TokenType, UserToken
from tests.support.dpop import DPOP_CLIENTS, bff_login, claims, finish_login, start_login, use_dpop_client
from tests.support.leaks import private_key_parts
from tests.support.login import expire, session_request
from tests.support.request import new_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def stored(client: Any) -> UserToken:
    token = get_token_store().get_token(session_request(client))
    assert isinstance(token, UserToken)
    return token


def test_a_login_binds_the_code_and_the_token_to_the_sessions_key(oidc: Any, bff_client: Any, settings: Any) -> None:
    use_dpop_client(settings)
    parameters = bff_login(bff_client)
    token = stored(bff_client)
    assert token.access_token_type == "DPoP" and token.dpop_jwk
    assert "d" in json.loads(token.dpop_jwk)  # the private key, kept (encrypted) with the tokens
    jkt = jwk_thumbprint(token.dpop_jwk)
    assert parameters["dpop_jkt"] == jkt
    assert claims(token.access_token)["cnf"] == {"jkt": jkt}
    assert oidc.stats()["token"]["authorization_code"] == 1
    # The default retriever gives the token with its key, for the proxy to sign proofs with.
    context = AccessTokenRetrievalContext(
        request=session_request(bff_client), local_path="/api/x", api_address="http://127.0.0.1/api"
    )
    result = DefaultAccessTokenRetriever().get_access_token(context)
    assert isinstance(result, DPoPTokenResult) and result.dpop_jwk == token.dpop_jwk
    # What the browser can ask for shows no key (the leak guard scans both answers for its "d").
    settings.BFF = {**settings.BFF, "DIAGNOSTICS": True}
    assert bff_client.get("/bff/user", HTTP_X_CSRF="1").status_code == 200
    page = bff_client.get("/bff/diagnostics", HTTP_X_CSRF="1")
    assert page.status_code == 200 and jkt in page.content.decode()


def test_an_async_refresh_keeps_the_binding(oidc: Any, bff_client: Any, settings: Any) -> None:
    from asgiref.sync import async_to_sync

    from django_bff.token_manager import aget_user_access_token

    use_dpop_client(settings, "bff-dpop-nonce")
    bff_login(bff_client)
    before = expire(bff_client)
    result = async_to_sync(aget_user_access_token)(session_request(bff_client))
    assert isinstance(result.token, UserToken) and result.token.access_token != before.access_token
    assert claims(result.token.access_token)["cnf"] == {"jkt": jwk_thumbprint(before.dpop_jwk or "")}


def test_a_refresh_keeps_the_binding_to_the_same_key(oidc: Any, bff_client: Any, settings: Any) -> None:
    use_dpop_client(settings)
    bff_login(bff_client)
    before = expire(bff_client)
    result = get_user_access_token(session_request(bff_client))
    assert isinstance(result.token, UserToken) and result.token.access_token != before.access_token
    assert oidc.stats()["token"]["refresh_token"] == 1
    assert result.token.access_token_type == "DPoP" and result.token.dpop_jwk == before.dpop_jwk
    assert claims(result.token.access_token)["cnf"] == {"jkt": jwk_thumbprint(before.dpop_jwk or "")}
    assert stored(bff_client).dpop_jwk == before.dpop_jwk


def test_a_token_for_a_resource_is_bound_to_the_sessions_key(oidc: Any, bff_client: Any, settings: Any) -> None:
    from django_bff.tokens import UserTokenRequestParameters
    from tests.support.idp import API_RESOURCE

    use_dpop_client(settings)
    bff_login(bff_client)
    key = stored(bff_client).dpop_jwk
    result = get_user_access_token(session_request(bff_client), UserTokenRequestParameters(resource=API_RESOURCE))
    assert isinstance(result.token, UserToken) and result.token.resource == API_RESOURCE
    assert result.token.access_token_type == "DPoP" and result.token.dpop_jwk == key
    assert claims(result.token.access_token)["cnf"] == {"jkt": jwk_thumbprint(key or "")}


def test_two_sessions_have_two_keys(oidc: Any, settings: Any) -> None:
    from django.test import Client

    use_dpop_client(settings)
    alice, bob = Client(HTTP_HOST="127.0.0.1"), Client(HTTP_HOST="127.0.0.1")
    bff_login(alice, "alice")
    bff_login(bob, "bob")
    keys = {jwk_thumbprint(stored(c).dpop_jwk or "") for c in (alice, bob)}
    assert len(keys) == 2
    assert {claims(stored(c).access_token)["cnf"]["jkt"] for c in (alice, bob)} == keys


def test_a_provider_that_demands_nonces_gets_them_at_login_and_refresh(
    oidc: Any, bff_client: Any, settings: Any
) -> None:
    use_dpop_client(settings, "bff-dpop-nonce")
    bff_login(bff_client)
    assert oidc.stats()["token_errors"].get("use_dpop_nonce") == 1  # the first request learns the nonce
    expire(bff_client)
    result = get_user_access_token(session_request(bff_client))
    assert isinstance(result.token, UserToken) and result.token.access_token_type == "DPoP"
    stats = oidc.stats()
    assert stats["token"] == {"authorization_code": 2, "refresh_token": 1, "client_credentials": 0}
    # The refresh started with the remembered nonce: no second refusal.
    assert stats["token_errors"].get("use_dpop_nonce") == 1


def test_without_dpop_a_dpop_client_cannot_log_in(oidc: Any, bff_client: Any, settings: Any) -> None:
    use_dpop_client(settings, dpop=False)
    url = start_login(bff_client)
    assert "dpop_jkt" not in url
    back = finish_login(bff_client, url)
    assert back.status_code == 302 and back["Location"] != "/"  # the failure URL
    assert oidc.stats()["token_errors"] == {"invalid_grant": 1}  # "DPoP proof JWT not provided"


def client_route(client_name: str = "default") -> Any:
    context = AccessTokenRetrievalContext(
        request=new_request(),
        local_path="/api/x",
        api_address="http://127.0.0.1/api",
        token_type=TokenType.CLIENT,
        client_name=client_name,
    )
    return DefaultAccessTokenRetriever().get_access_token(context)


def test_the_default_client_gets_a_bound_client_credentials_token(oidc: Any, settings: Any) -> None:
    use_dpop_client(settings)
    result = client_route()
    assert isinstance(result, DPoPTokenResult)
    assert claims(result.access_token)["cnf"] == {"jkt": jwk_thumbprint(result.dpop_jwk)}
    # Cached with its key: the next call is served from the cache, bound to the same key.
    again = client_route()
    assert isinstance(again, DPoPTokenResult) and again.dpop_jwk == result.dpop_jwk
    assert oidc.stats()["token"]["client_credentials"] == 1


def test_a_named_client_with_dpop_gets_a_bound_token_and_answers_the_nonce(oidc: Any, settings: Any) -> None:
    named = {"CLIENT_ID": "bff-dpop-nonce", "CLIENT_SECRET": DPOP_CLIENTS["bff-dpop-nonce"], "DPOP": True}
    settings.BFF = {**settings.BFF, "CLIENTS": {"billing": named}}  # BFF["DPOP"] stays off: the client opts in alone
    result = client_route("billing")
    assert isinstance(result, DPoPTokenResult)
    assert claims(result.access_token)["cnf"] == {"jkt": jwk_thumbprint(result.dpop_jwk)}
    token = get_client_access_token("billing", force_renewal=True).token
    assert isinstance(token, ClientToken) and token.dpop_jwk == result.dpop_jwk  # one key per client
    assert oidc.stats()["token_errors"] == {"use_dpop_nonce": 1}


def test_no_private_key_material_at_rest_in_the_clear(
    oidc: Any, bff_client: Any, settings: Any, redis_cache: str
) -> None:
    import redis
    from django.db import connection

    use_dpop_client(settings)
    named = {"CLIENT_ID": "bff-dpop", "CLIENT_SECRET": DPOP_CLIENTS["bff-dpop"], "DPOP": True}
    settings.BFF = {**settings.BFF, "CLIENTS": {"billing": named}}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    # The login's key waits in the session until the callback...
    url = start_login(bff_client)
    at_rest = [row.session_data + json.dumps(row.get_decoded()) for row in Session.objects.all()]
    assert any("_bff_dpop_login_keys" in text for text in at_rest)
    # ...then goes to the token record; a named client's key to the cache, with its token.
    assert finish_login(bff_client, url)["Location"] == "/"
    client_key = client_route("billing").dpop_jwk
    secrets = [part for key in (stored(bff_client).dpop_jwk or "", client_key) for part in private_key_parts(key)]
    assert len(secrets) == 2 and all(len(s) > 20 for s in secrets)

    at_rest += [row.session_data + json.dumps(row.get_decoded()) for row in Session.objects.all()]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            at_rest += [repr(row) for row in cursor.fetchall()]
    store = redis.Redis.from_url(redis_cache)
    assert any(b"bff:client-token" in key for key in store.keys("*"))
    at_rest += [repr(store.dump(key)) for key in store.keys("*")]
    for secret in secrets:
        assert not any(secret in text for text in at_rest)


def test_a_token_exchange_of_a_dpop_client_is_bound_too(oidc: Any, bff_client: Any, settings: Any) -> None:
    from django_bff.retrievers import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
    from django_bff.token_manager.client import exchange_token

    use_dpop_client(settings)
    bff_login(bff_client)
    subject = stored(bff_client).access_token
    data = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": subject,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "audience": "http://127.0.0.1/api",
    }
    token = exchange_token(subject, data).token
    assert isinstance(token, ClientToken) and token.access_token_type == "DPoP" and token.dpop_jwk
    assert claims(token.access_token)["cnf"] == {"jkt": jwk_thumbprint(token.dpop_jwk)}


def test_a_login_that_did_not_start_at_bff_login_is_bound_without_dpop_jkt(
    oidc: Any, bff_client: Any, settings: Any
) -> None:
    from tests.support.login import browser_login

    use_dpop_client(settings)
    browser_login(bff_client)  # mozilla-django-oidc's /oidc/authenticate/: no dpop_jkt
    token = stored(bff_client)
    assert token.access_token_type == "DPoP"
    assert claims(token.access_token)["cnf"] == {"jkt": jwk_thumbprint(token.dpop_jwk or "")}
