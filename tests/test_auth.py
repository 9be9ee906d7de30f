from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
import responses
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from django_bff.auth import PENDING_TOKEN_ATTR, BFFAuthenticationBackend
from django_bff.stores import get_token_store
from django_bff.testing import UserTokenStoreContract
from tests.support.keys import KEY, OTHER_KEY, jwk

ISSUER = "http://127.0.0.1:9"
TOKEN_URL = ISSUER + "/token"
JWKS_URL = ISSUER + "/jwks"
USERINFO_URL = ISSUER + "/me"


def id_token(key: Any = KEY, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": "bff",
        "sub": "alice",
        "email": "alice@example.test",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def token_answer(token: str) -> dict[str, Any]:
    return {
        "access_token": "at-AAAAAAAAAAAA",
        "refresh_token": "rt-RRRRRRRRRRRR",
        "id_token": token,
        "expires_in": 60,
        "token_type": "Bearer",
    }


def callback_request(user: Any = None) -> Any:
    request = RequestFactory(HTTP_HOST="127.0.0.1").get("/oidc/callback/", {"code": "c-1", "state": "s-1"})
    request.session = UserTokenStoreContract().new_request().session
    request.user = user or AnonymousUser()
    return request


@pytest.fixture
def mocked(leak_guard: Any) -> Any:
    leak_guard.add("at-AAAAAAAAAAAA", "rt-RRRRRRRRRRRR")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, json={"keys": [jwk(KEY, "k1")]})
        yield mock


def authenticate(request: Any) -> Any:
    return BFFAuthenticationBackend().authenticate(request, nonce="n-1", code_verifier="v" * 43)


pytestmark = pytest.mark.django_db(transaction=True)


def test_login_keeps_the_token_response_on_the_request(mocked: Any) -> None:
    mocked.post(TOKEN_URL, json=token_answer(id_token()))
    request = callback_request()
    user = authenticate(request)
    assert user.email == "alice@example.test"
    response, token = getattr(request, PENDING_TOKEN_ATTR)
    assert response["refresh_token"] == token.refresh_token == "rt-RRRRRRRRRRRR"
    assert token.client_id == "bff"
    body = mocked.calls[0].request.body
    assert "code_verifier=" in body and "client_secret" not in body


@pytest.mark.parametrize(
    "token",
    [
        id_token(aud="someone-else"),
        id_token(iss="http://evil.example"),
        id_token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
        id_token(nonce="other-nonce"),
        id_token(key=OTHER_KEY),
        id_token(alg="RS512"),
        id_token(aud=["bff", "other"], azp="other"),
        id_token(kid="unknown-kid"),
        id_token(sub=None),
    ],
    ids=["aud", "iss", "exp", "nonce", "signature", "alg", "azp", "kid", "no-sub"],
)
def test_bad_identity_tokens_fail_the_login(mocked: Any, token: str, leak_guard: Any) -> None:
    mocked.post(TOKEN_URL, json=token_answer(token))
    request = callback_request()
    assert authenticate(request) is None
    assert not hasattr(request, PENDING_TOKEN_ATTR)
    assert not get_user_model().objects.filter(email="alice@example.test").exists()
    assert any(r.name == "django.security.django_bff" for r in leak_guard.records)


def test_several_audiences_with_our_azp_pass(mocked: Any) -> None:
    mocked.post(TOKEN_URL, json=token_answer(id_token(aud=["bff", "other"], azp="bff")))
    assert authenticate(callback_request()) is not None


def test_code_exchange_failure_is_a_failed_login(mocked: Any) -> None:
    mocked.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    assert authenticate(callback_request()) is None
    mocked.replace(responses.POST, TOKEN_URL, status=502, body="bad gateway")
    assert authenticate(callback_request()) is None


def test_unknown_kid_fetches_the_jwks_once_more(mocked: Any, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "JWKS_MIN_REFETCH_INTERVAL": 0}
    mocked.post(TOKEN_URL, json=token_answer(id_token()))
    assert authenticate(callback_request()) is not None
    # The provider rotates its key: the cached JWKS lacks k2, one re-fetch finds it.
    mocked.replace(responses.GET, JWKS_URL, json={"keys": [jwk(KEY, "k1"), jwk(OTHER_KEY, "k2")]})
    mocked.replace(responses.POST, TOKEN_URL, json=token_answer(id_token(key=OTHER_KEY, kid="k2")))
    assert authenticate(callback_request()) is not None
    assert len([c for c in mocked.calls if c.request.url == JWKS_URL]) == 2


def test_userinfo_through_the_backchannel(mocked: Any, settings: Any) -> None:
    settings.OIDC_OP_USER_ENDPOINT = USERINFO_URL
    mocked.post(TOKEN_URL, json=token_answer(id_token()))
    mocked.get(USERINFO_URL, json={"sub": "alice", "email": "alice@userinfo.test"})
    assert authenticate(callback_request()).email == "alice@userinfo.test"
    assert mocked.calls[-1].request.headers["Authorization"] == "Bearer at-AAAAAAAAAAAA"
    assert mocked.calls[-1].request.headers["User-Agent"].startswith("django-bff/")


@pytest.mark.parametrize(
    "answer",
    [{"status": 401, "json": {}}, {"json": {"sub": "mallory", "email": "m@example.test"}}],
)
def test_userinfo_errors_fail_the_login(mocked: Any, settings: Any, answer: dict[str, Any]) -> None:
    settings.OIDC_OP_USER_ENDPOINT = USERINFO_URL
    mocked.post(TOKEN_URL, json=token_answer(id_token()))
    mocked.get(USERINFO_URL, **answer)
    assert authenticate(callback_request()) is None


def test_userinfo_as_a_signed_jwt(mocked: Any, settings: Any) -> None:
    settings.OIDC_OP_USER_ENDPOINT = USERINFO_URL
    mocked.post(TOKEN_URL, json=token_answer(id_token()))
    mocked.get(USERINFO_URL, body=id_token(email="alice@jwt.test", nonce=None), content_type="application/jwt")
    backend = BFFAuthenticationBackend()
    user = backend.authenticate(callback_request(), nonce="n-1")
    assert user is not None and user.email == "alice@jwt.test"


def test_same_user_logging_in_again_through_mozillas_callback_cycles_the_key(mocked: Any) -> None:
    """mozilla-django-oidc's own callback skips login() for the same user: the backend does its part."""
    from django.middleware.csrf import get_token

    mocked.post(TOKEN_URL, json=token_answer(id_token()))
    user = get_user_model().objects.create_user("u", email="alice@example.test")
    request = callback_request(user)
    key, csrf = request.session.session_key, get_token(request)
    assert authenticate(request) == user
    assert not hasattr(request, PENDING_TOKEN_ATTR)
    assert get_token_store().get_token(request).refresh_token == "rt-RRRRRRRRRRRR"
    assert request.session.session_key != key
    assert get_token(request) != csrf


def test_endpoints_from_discovery(mocked: Any, settings: Any) -> None:
    del settings.OIDC_OP_TOKEN_ENDPOINT
    del settings.OIDC_OP_JWKS_ENDPOINT
    mocked.get(
        ISSUER + "/.well-known/openid-configuration",
        json={"issuer": ISSUER, "token_endpoint": TOKEN_URL, "jwks_uri": JWKS_URL},
    )
    mocked.post(TOKEN_URL, json=token_answer(id_token()))
    assert authenticate(callback_request()) is not None


def test_no_code_no_login() -> None:
    request = RequestFactory().get("/oidc/callback/")
    assert BFFAuthenticationBackend().authenticate(request) is None
    assert BFFAuthenticationBackend().authenticate(None) is None


def test_authority_only_backend_needs_no_provider_to_be_built(settings: Any) -> None:
    del settings.OIDC_OP_TOKEN_ENDPOINT
    del settings.OIDC_OP_JWKS_ENDPOINT
    with responses.RequestsMock() as mock:  # any HTTP call would fail the test
        backend = BFFAuthenticationBackend()
        user = get_user_model().objects.create_user("bob")
        assert backend.get_user(user.pk) == user
        assert len(mock.calls) == 0


def test_authority_without_the_endpoint_in_discovery_fails_the_login(mocked: Any, settings: Any) -> None:
    del settings.OIDC_OP_TOKEN_ENDPOINT
    mocked.get(ISSUER + "/.well-known/openid-configuration", json={"issuer": ISSUER})
    assert authenticate(callback_request()) is None


@pytest.mark.parametrize("authority, iss", [(ISSUER + "/", ISSUER), (ISSUER, ISSUER + "/")])
def test_issuer_trailing_slash_either_way(mocked: Any, settings: Any, authority: str, iss: str) -> None:
    settings.BFF = {**settings.BFF, "AUTHORITY": authority}
    mocked.post(TOKEN_URL, json=token_answer(id_token(iss=iss)))
    assert authenticate(callback_request()) is not None


@pytest.mark.parametrize(
    "answer",
    [{"body": __import__("requests").ConnectionError("down")}, {"body": "<html>", "content_type": "text/html"}],
    ids=["unreachable", "not-json"],
)
def test_userinfo_trouble_is_a_failed_login_not_a_500(mocked: Any, settings: Any, answer: dict[str, Any]) -> None:
    settings.OIDC_OP_USER_ENDPOINT = USERINFO_URL
    mocked.post(TOKEN_URL, json=token_answer(id_token()))
    mocked.get(USERINFO_URL, **answer)
    assert authenticate(callback_request()) is None


def test_with_dpop_the_code_exchange_and_userinfo_carry_proofs_of_the_logins_key(mocked: Any, settings: Any) -> None:
    import base64
    import hashlib
    import json

    from django_bff.dpop import jwk_thumbprint, new_key
    from django_bff.handoff import keep_login_key

    settings.BFF = {**settings.BFF, "DPOP": True}
    settings.OIDC_OP_USER_ENDPOINT = USERINFO_URL
    mocked.post(TOKEN_URL, json={**token_answer(id_token()), "token_type": "DPoP"})
    challenge = {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "u-1"}
    mocked.get(USERINFO_URL, status=401, headers=challenge)
    mocked.get(USERINFO_URL, json={"sub": "alice", "email": "alice@userinfo.test"})
    request = callback_request()
    key = new_key()
    request.session["oidc_states"] = {"s-1": {}}
    keep_login_key(request, "https://idp.example/auth?state=s-1", key)
    assert authenticate(request).email == "alice@userinfo.test"
    _, token = getattr(request, PENDING_TOKEN_ATTR)
    assert token.access_token_type == "DPoP" and token.dpop_jwk == key  # the key /bff/login made

    calls = [c for c in mocked.calls if c.request.url.split("?")[0] in (TOKEN_URL, USERINFO_URL)]
    assert [c.request.method for c in calls] == ["POST", "GET", "GET"]
    proofs = [jwt.decode(c.request.headers["DPoP"], options={"verify_signature": False}) for c in calls]
    heads = [jwt.get_unverified_header(c.request.headers["DPoP"]) for c in calls]
    assert all(jwk_thumbprint(json.dumps(h["jwk"])) == jwk_thumbprint(key) for h in heads)
    assert proofs[0]["htm"] == "POST" and "ath" not in proofs[0]
    ath = base64.urlsafe_b64encode(hashlib.sha256(b"at-AAAAAAAAAAAA").digest()).rstrip(b"=").decode()
    assert [p.get("ath") for p in proofs[1:]] == [ath, ath] and [p.get("nonce") for p in proofs[1:]] == [None, "u-1"]
    assert all(c.request.headers["Authorization"] == "DPoP at-AAAAAAAAAAAA" for c in calls[1:])


def test_with_dpop_a_bearer_answer_fails_the_login_unless_accepted(mocked: Any, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "DPOP": True}
    mocked.post(TOKEN_URL, json=token_answer(id_token()))  # "token_type": "Bearer": the provider did not bind it
    assert authenticate(callback_request()) is None
    settings.BFF = {**settings.BFF, "DPOP": {"ACCEPT_BEARER": True}}
    request = callback_request()
    assert authenticate(request) is not None
    _, token = getattr(request, PENDING_TOKEN_ATTR)
    assert token.access_token_type == "Bearer"  # kept as what it is: sent without proofs
