"""Client assertions (private_key_jwt, RFC 7523)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from django_bff.assertions import (
    JWT_BEARER,
    ClientAssertionService,
    PrivateKeyJwtAssertionService,
    get_assertion_service,
)
from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.token_manager import get_client_access_token

TOKEN_URL = "http://127.0.0.1:9/token"


def pem(key: Any, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize("algorithm, key", [("RS256", RSA_KEY), ("PS256", RSA_KEY), ("ES256", EC_KEY)])
def test_rfc_7523_claims(algorithm: str, key: Any) -> None:
    service = PrivateKeyJwtAssertionService(KEY=pem(key), KEY_ID="k-1", ALGORITHM=algorithm, LIFETIME=30)
    first = service.get_client_assertion("bff", TOKEN_URL, "http://127.0.0.1:9")
    second = service.get_client_assertion("bff", TOKEN_URL, "http://127.0.0.1:9")
    assert first.type == JWT_BEARER and first.value not in repr(first)
    claims = jwt.decode(first.value, key.public_key(), algorithms=[algorithm], audience=TOKEN_URL)
    assert claims["iss"] == claims["sub"] == "bff"
    assert claims["exp"] - claims["iat"] == 30
    assert jwt.get_unverified_header(first.value)["kid"] == "k-1"
    assert claims["jti"] != jwt.decode(second.value, options={"verify_signature": False})["jti"]
    jwk = service.public_jwk()
    assert jwk["kid"] == "k-1" and jwk["alg"] == algorithm and "d" not in jwk


def test_audience_can_be_the_issuer() -> None:
    service = PrivateKeyJwtAssertionService(KEY=pem(RSA_KEY), AUDIENCE="issuer")
    value = service.get_client_assertion("bff", TOKEN_URL, "http://idp").value
    assert jwt.decode(value, options={"verify_signature": False})["aud"] == "http://idp"
    assert "kid" not in jwt.get_unverified_header(value)


def test_key_sources(tmp_path: Any, monkeypatch: Any) -> None:
    path = tmp_path / "key.pem"
    path.write_text(pem(RSA_KEY, b"pw"))
    assert PrivateKeyJwtAssertionService(KEY_FILE=str(path), KEY_PASSWORD="pw").key.key_size == 2048
    monkeypatch.setenv("BFF_KEY", pem(RSA_KEY))
    assert PrivateKeyJwtAssertionService(KEY_ENV="BFF_KEY")


@pytest.mark.parametrize(
    "options, message",
    [
        ({}, "exactly one"),
        ({"KEY": "x", "KEY_ENV": "Y"}, "exactly one"),
        ({"KEY_FILE": "/no/such/key.pem"}, "cannot read"),
        ({"KEY_ENV": "BFF_NO_SUCH_VARIABLE"}, "is empty"),
        ({"KEY": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"}, "not a readable PEM"),
        ({"KEY": pem(RSA_KEY), "ALGORITHM": "HS256"}, "unsupported ALGORITHM"),
        ({"KEY": pem(RSA_KEY), "ALGORITHM": "ES256"}, "does not fit"),
        ({"KEY": pem(RSA_KEY), "AUDIENCE": "everyone"}, "AUDIENCE"),
        ({"KEY": pem(RSA_KEY), "LIFETIME": 3600}, "LIFETIME"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BFFImproperlyConfigured, match=message):
        PrivateKeyJwtAssertionService(**options)


def test_the_setting(settings: Any) -> None:
    assert get_assertion_service() is None
    settings.BFF = {
        **settings.BFF,
        "CLIENT_ASSERTION_SERVICE": {
            "BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService",
            "OPTIONS": {"KEY": pem(RSA_KEY)},
        },
    }
    assert isinstance(get_assertion_service(), PrivateKeyJwtAssertionService)
    for bad, message in (
        (42, "dotted path"),
        ("no.such.Service", "Could not import"),
        ("django_bff.tokens.UserToken", "not a ClientAssertionService"),
        ({"BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService", "OPTIONS": {"COLOUR": 1}}, "rejected"),
    ):
        settings.BFF = {**settings.BFF, "CLIENT_ASSERTION_SERVICE": bad}
        with pytest.raises(BFFImproperlyConfigured, match=message):
            get_assertion_service()
    with pytest.raises(NotImplementedError):
        ClientAssertionService().get_client_assertion("a", "b", None)


@responses.activate
def test_every_token_request_of_the_oidc_client_gets_a_fresh_assertion(settings: Any) -> None:
    settings.BFF = {
        **settings.BFF,
        "CLIENT_ASSERTION_SERVICE": {
            "BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService",
            "OPTIONS": {"KEY": pem(RSA_KEY)},
        },
    }
    responses.post(TOKEN_URL, json={"access_token": "app-AAAAAAAAAA", "expires_in": 300})
    get_client_access_token()
    get_client_access_token(force_renewal=True)
    forms = [parse_qs(c.request.body) for c in responses.calls]
    for form, call in zip(forms, responses.calls, strict=True):
        assert form["client_assertion_type"] == [JWT_BEARER] and form["client_id"] == ["bff"]
        assert "client_secret" not in form and "Authorization" not in call.request.headers
    jtis = [jwt.decode(f["client_assertion"][0], options={"verify_signature": False})["jti"] for f in forms]
    assert len(set(jtis)) == 2


def test_private_key_jwt_client_without_a_service(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "CLIENTS": {"jwt": {"CLIENT_ID": "x", "AUTH_METHOD": "private_key_jwt"}}}
    with pytest.raises(BFFImproperlyConfigured, match="CLIENT_ASSERTION_SERVICE"):
        get_client_access_token("jwt")


# --- against the real identity provider ------------------------------------------------------------


@pytest.fixture
def jwt_client(oidc: Any, settings: Any, client_key: Any) -> Any:
    settings.OIDC_RP_CLIENT_ID = "bff-jwt"
    settings.OIDC_RP_CLIENT_SECRET = None
    settings.BFF = {
        **settings.BFF,
        "CLIENT_ASSERTION_SERVICE": {
            "BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService",
            "OPTIONS": {"KEY": client_key[0], "KEY_ID": "bff-test-1"},
        },
    }
    return oidc


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_login_refresh_and_client_credentials_with_private_key_jwt(jwt_client: Any, bff_client: Any) -> None:
    from django_bff.token_manager import get_user_access_token
    from django_bff.tokens import UserTokenRequestParameters
    from tests.support.login import browser_login, session_request

    browser_login(bff_client)  # the code exchange authenticates with an assertion
    assert jwt_client.stats()["token"]["authorization_code"] == 1
    refreshed = get_user_access_token(session_request(bff_client), UserTokenRequestParameters(force_renewal=True))
    assert refreshed.token is not None
    assert get_client_access_token().token is not None
    from django_bff.retrievers import AccessTokenRetrievalContext, BearerTokenResult, TokenExchangeAccessTokenRetriever

    context = AccessTokenRetrievalContext(
        request=session_request(bff_client), local_path="/api/x", api_address="http://127.0.0.1/api"
    )
    exchanged = TokenExchangeAccessTokenRetriever().get_access_token(context)
    assert isinstance(exchanged, BearerTokenResult)
    stats = jwt_client.stats()
    assert stats["token"]["refresh_token"] == 1 and stats["token"]["client_credentials"] == 1
    assert stats["token"]["urn:ietf:params:oauth:grant-type:token-exchange"] == 1
    assert not stats["token_errors"]


@pytest.mark.integration
def test_the_idp_refuses_a_replayed_assertion(jwt_client: Any) -> None:
    import requests

    service = get_assertion_service()
    assert service is not None
    assertion = service.get_client_assertion("bff-jwt", jwt_client.token_endpoint, jwt_client.issuer)
    form = {
        "grant_type": "client_credentials",
        "client_id": "bff-jwt",
        "client_assertion_type": assertion.type,
        "client_assertion": assertion.value,
    }
    first = requests.post(jwt_client.token_endpoint, data=form, timeout=10)
    second = requests.post(jwt_client.token_endpoint, data=form, timeout=10)
    assert first.status_code == 200
    assert second.status_code in (400, 401) and second.json()["error"] == "invalid_client"
    # Ours never sends one twice: many requests in a row all succeed.
    for _ in range(3):
        assert get_client_access_token(force_renewal=True).token is not None


@responses.activate
def test_revocation_assertions_name_the_token_endpoint(settings: Any) -> None:
    settings.BFF = {
        **settings.BFF,
        "REVOCATION_ENDPOINT": "http://127.0.0.1:9/revoke",
        "CLIENT_ASSERTION_SERVICE": {
            "BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService",
            "OPTIONS": {"KEY": pem(RSA_KEY)},
        },
    }
    from django_bff import oauth

    responses.post("http://127.0.0.1:9/revoke")
    assert oauth.revoke("rt-XXXXXXXXXXXX") is True
    form = parse_qs(responses.calls[0].request.body)
    assert jwt.decode(form["client_assertion"][0], options={"verify_signature": False})["aud"] == TOKEN_URL


class BrokenService(ClientAssertionService):
    def get_client_assertion(self, client_id: str, token_endpoint: str, issuer: str | None) -> Any:
        raise RuntimeError("the HSM is unplugged")


@responses.activate
def test_a_failing_service_is_a_token_service_error(settings: Any) -> None:
    from django_bff import oauth
    from django_bff.tokens import TokenError

    settings.BFF = {
        **settings.BFF,
        "CLIENT_ASSERTION_SERVICE": "tests.test_assertions.BrokenService",
        "REVOCATION_ENDPOINT": TOKEN_URL,
    }
    assert get_client_access_token().error is TokenError.TOKEN_SERVICE_ERROR
    assert oauth.revoke("rt-XXXXXXXXXXXX") is False
    assert len(responses.calls) == 0


def test_key_strength_checks() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(BFFImproperlyConfigured, match="2048"):
        PrivateKeyJwtAssertionService(KEY=pem(weak))
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(BFFImproperlyConfigured, match="P-256"):
        PrivateKeyJwtAssertionService(KEY=pem(p384), ALGORITHM="ES256")
    with pytest.raises(BFFImproperlyConfigured, match="LIFETIME"):
        PrivateKeyJwtAssertionService(KEY=pem(RSA_KEY), LIFETIME=True)
    assert "key_ops" not in PrivateKeyJwtAssertionService(KEY=pem(RSA_KEY)).public_jwk()


@responses.activate
def test_a_client_may_have_its_own_assertion_service(settings: Any) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings.BFF = {
        **settings.BFF,
        "CLIENT_ASSERTION_SERVICE": {
            "BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService",
            "OPTIONS": {"KEY": pem(RSA_KEY)},
        },
        "CLIENTS": {
            "partner": {
                "CLIENT_ID": "partner-app",
                "AUTH_METHOD": "private_key_jwt",
                "TOKEN_ENDPOINT": TOKEN_URL,
                "ASSERTION_SERVICE": {
                    "BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService",
                    "OPTIONS": {"KEY": pem(other_key), "KEY_ID": "partner-1"},
                },
            }
        },
    }
    responses.post(TOKEN_URL, json={"access_token": "app-AAAAAAAAAA", "expires_in": 300})
    get_client_access_token("partner")
    get_client_access_token()
    partner, default = (parse_qs(c.request.body)["client_assertion"][0] for c in responses.calls)
    assert jwt.decode(partner, other_key.public_key(), algorithms=["RS256"], audience=TOKEN_URL)["iss"] == "partner-app"
    assert jwt.get_unverified_header(partner)["kid"] == "partner-1"
    assert jwt.decode(default, RSA_KEY.public_key(), algorithms=["RS256"], audience=TOKEN_URL)["iss"] == "bff"


def test_checks_for_a_clients_own_service(settings: Any) -> None:
    from django_bff.checks import check_settings

    own = {"BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService", "OPTIONS": {"KEY": pem(RSA_KEY)}}
    settings.BFF = {
        **settings.BFF,
        "CLIENTS": {"p": {"CLIENT_ID": "p", "AUTH_METHOD": "private_key_jwt", "ASSERTION_SERVICE": own}},
    }
    ids = {m.id for m in check_settings()}
    assert "django_bff.E029" not in ids and "django_bff.E028" not in ids
    broken = {**own, "OPTIONS": {"KEY": "not a key"}}
    settings.BFF = {
        **settings.BFF,
        "CLIENTS": {"p": {"CLIENT_ID": "p", "AUTH_METHOD": "private_key_jwt", "ASSERTION_SERVICE": broken}},
    }
    assert "django_bff.E028" in {m.id for m in check_settings()}
