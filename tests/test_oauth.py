from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from django_bff import oauth
from django_bff.exceptions import AccessTokenUnavailable, BFFImproperlyConfigured

TOKEN_URL = "http://127.0.0.1:9/token"


@responses.activate
def test_client_secret_post(settings: Any) -> None:
    settings.OIDC_TOKEN_USE_BASIC_AUTH = False
    responses.post(TOKEN_URL, json={"access_token": "a-AAAAAAAAAA"})
    oauth.token_request({"grant_type": "refresh_token", "refresh_token": "r", "client_secret": "injected"})
    request = responses.calls[0].request
    assert "Authorization" not in request.headers
    assert parse_qs(request.body) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["r"],
        "client_id": ["bff"],
        "client_secret": ["bff-secret"],
    }


@responses.activate
def test_basic_auth_form_encodes_id_and_secret(settings: Any) -> None:
    settings.OIDC_RP_CLIENT_ID = "app:1"
    settings.OIDC_RP_CLIENT_SECRET = "s e/c%ret"
    responses.post(TOKEN_URL, json={"access_token": "a-AAAAAAAAAA"})
    oauth.token_request({"grant_type": "client_credentials"})
    header = responses.calls[0].request.headers["Authorization"]
    assert base64.b64decode(header.split()[1]) == b"app%3A1:s%20e%2Fc%25ret"
    assert "client_id" not in responses.calls[0].request.body


@responses.activate
def test_public_client_sends_only_its_id(settings: Any) -> None:
    settings.OIDC_RP_CLIENT_SECRET = None
    responses.post(TOKEN_URL, json={"access_token": "a-AAAAAAAAAA"})
    oauth.token_request({"grant_type": "refresh_token"})
    assert parse_qs(responses.calls[0].request.body)["client_id"] == ["bff"]
    assert "Authorization" not in responses.calls[0].request.headers


def test_missing_client_id_or_endpoint(settings: Any) -> None:
    settings.OIDC_RP_CLIENT_ID = None
    with pytest.raises(BFFImproperlyConfigured, match="OIDC_RP_CLIENT_ID"):
        oauth.token_request({"grant_type": "refresh_token"})
    settings.OIDC_OP_TOKEN_ENDPOINT = None
    settings.BFF = {**settings.BFF, "AUTHORITY": None}
    with pytest.raises(BFFImproperlyConfigured, match="no token endpoint"):
        oauth.token_request({"grant_type": "refresh_token"})


@responses.activate
def test_error_messages_never_carry_the_body(leak_guard: Any) -> None:
    responses.post(
        TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "token rt-SECRET-VALUE is revoked"}
    )
    leak_guard.add("rt-SECRET-VALUE")
    with pytest.raises(Exception) as info:
        oauth.token_request({"grant_type": "refresh_token", "refresh_token": "rt-SECRET-VALUE"})
    assert "rt-SECRET-VALUE" not in str(info.value)
    assert info.value.error == "invalid_grant"  # type: ignore[attr-defined]


@pytest.mark.parametrize("value, expected", [("30", 30), ("0", 5), ("99999", 5), ("Wed, 21 Oct 2015 07:28:00 GMT", 5)])
@responses.activate
def test_retry_after_is_bounded(value: str, expected: int) -> None:
    responses.post(TOKEN_URL, status=503, headers={"Retry-After": value})
    with pytest.raises(Exception) as info:
        oauth.token_request({"grant_type": "refresh_token"})
    assert info.value.retry_after == expected  # type: ignore[attr-defined]


def test_access_token_unavailable_status() -> None:
    assert AccessTokenUnavailable("session_expired").status_code == 401
    transient = AccessTokenUnavailable("token_service_unavailable", transient=True, retry_after=5)
    assert transient.status_code == 503 and transient.retry_after == 5
    assert "token_service_unavailable" in str(transient)


def test_revoking_without_an_endpoint_warns_once(settings: Any, caplog: Any) -> None:
    import logging

    settings.BFF = {**settings.BFF, "AUTHORITY": None, "REVOCATION_ENDPOINT": None}
    assert oauth.revoke("r-1") is False
    assert oauth.revoke("r-2") is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "revocation_endpoint" in warnings[0] and "django_bff.W020" in warnings[0]


@responses.activate
def test_a_discovery_document_without_a_revocation_endpoint_warns_once(settings: Any, caplog: Any) -> None:
    import logging

    responses.get("http://127.0.0.1:9/.well-known/openid-configuration", json={"issuer": "http://127.0.0.1:9"})
    assert oauth.revoke("r-1") is False
    assert oauth.revoke("r-2") is False
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    # Discovery that cannot be read is not "no endpoint": no warning for it.
    caplog.clear()
    from django_bff.backchannel import clear_caches

    clear_caches()
    responses.replace(responses.GET, "http://127.0.0.1:9/.well-known/openid-configuration", status=503)
    assert oauth.revoke("r-3") is False
    assert not [r for r in caplog.records if "revocation_endpoint" in r.getMessage()]


# --- DPoP (RFC 9449) -----------------------------------------------------------------------------


def proof_of(call: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of the DPoP proof a recorded request carried."""
    import jwt

    proof = call.request.headers["DPoP"]
    return jwt.get_unverified_header(proof), jwt.decode(proof, options={"verify_signature": False})


@responses.activate
def test_a_dpop_token_request_carries_a_fresh_proof_of_the_key(settings: Any) -> None:
    from django_bff.dpop import new_key, public_jwk

    key = new_key()
    responses.post(TOKEN_URL, json={"access_token": "a-AAAAAAAAAA", "token_type": "DPoP"})
    for _ in range(2):
        oauth.token_request({"grant_type": "client_credentials"}, endpoint=TOKEN_URL + "?x=1", dpop_jwk=key)
    (header, first), (_, second) = proof_of(responses.calls[0]), proof_of(responses.calls[1])
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256" and header["jwk"] == public_jwk(key)
    assert "d" not in header["jwk"]
    assert first["htm"] == "POST" and first["htu"] == TOKEN_URL  # without the query
    assert first["jti"] != second["jti"] and "nonce" not in first and "ath" not in first


@responses.activate
def test_use_dpop_nonce_is_answered_once_and_the_nonce_remembered(settings: Any) -> None:
    from django_bff.dpop import new_key
    from django_bff.dpop_nonces import issuer_scope, nonce_for

    settings.BFF = {**settings.BFF, "AUTHORITY": "http://127.0.0.1:9"}
    key = new_key()
    refusal = {"error": "use_dpop_nonce", "error_description": "nonce is required"}
    responses.post(TOKEN_URL, status=400, json=refusal, headers={"DPoP-Nonce": "n-1"})
    answer = {"access_token": "a-AAAAAAAAAA", "token_type": "DPoP"}
    responses.post(TOKEN_URL, json=answer, headers={"DPoP-Nonce": "n-2"})
    responses.post(TOKEN_URL, json={"access_token": "a-BBBBBBBBBB", "token_type": "DPoP"})
    assert oauth.token_request({"grant_type": "refresh_token"}, dpop_jwk=key)["access_token"] == "a-AAAAAAAAAA"
    assert [proof_of(c)[1].get("nonce") for c in responses.calls] == [None, "n-1"]
    assert nonce_for(issuer_scope("http://127.0.0.1:9")) == "n-2"  # the newest answer's nonce replaces it
    oauth.token_request({"grant_type": "refresh_token"}, dpop_jwk=key)
    assert proof_of(responses.calls[2])[1]["nonce"] == "n-2"  # sent first: no second refusal
    assert len(responses.calls) == 3


@responses.activate
def test_a_second_nonce_refusal_is_a_rejection(settings: Any) -> None:
    from django_bff.dpop import new_key
    from django_bff.exceptions import TokenRequestRejected

    refusal = {"error": "use_dpop_nonce"}
    responses.post(TOKEN_URL, status=400, json=refusal, headers={"DPoP-Nonce": "n-1"})
    with pytest.raises(TokenRequestRejected) as caught:
        oauth.token_request({"grant_type": "refresh_token"}, dpop_jwk=new_key())
    assert caught.value.error == "use_dpop_nonce" and len(responses.calls) == 2


@responses.activate
def test_the_nonce_retry_sends_a_new_client_assertion(settings: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    from django_bff.dpop import new_key
    from tests.support.keys import KEY

    pem = KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    service = {"BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService", "OPTIONS": {"KEY": pem}}
    settings.BFF = {**settings.BFF, "CLIENT_ASSERTION_SERVICE": service}
    responses.post(TOKEN_URL, status=400, json={"error": "use_dpop_nonce"}, headers={"DPoP-Nonce": "n-1"})
    responses.post(TOKEN_URL, json={"access_token": "a-AAAAAAAAAA", "token_type": "DPoP"})
    oauth.token_request({"grant_type": "refresh_token"}, dpop_jwk=new_key())
    assertions = [parse_qs(c.request.body)["client_assertion"][0] for c in responses.calls]
    assert len(set(assertions)) == 2


@responses.activate
def test_a_bearer_answer_to_a_proof_is_refused_unless_allowed(settings: Any, caplog: Any) -> None:
    from django_bff.dpop import new_key
    from django_bff.exceptions import TokenServiceError

    responses.post(TOKEN_URL, json={"access_token": "a-AAAAAAAAAA", "token_type": "Bearer"})
    with pytest.raises(TokenServiceError, match="did not bind the token"):
        oauth.token_request({"grant_type": "refresh_token"}, dpop_jwk=new_key())
    assert any(r.levelname == "ERROR" and "ACCEPT_BEARER" in r.getMessage() for r in caplog.records)
    settings.BFF = {**settings.BFF, "DPOP": {"ACCEPT_BEARER": True}}
    assert oauth.token_request({"grant_type": "refresh_token"}, dpop_jwk=new_key())["token_type"] == "Bearer"
    assert any(r.levelname == "WARNING" and "kept" in r.getMessage() for r in caplog.records)
    # Without a proof, a bearer token is what was asked for.
    assert oauth.token_request({"grant_type": "refresh_token"})["token_type"] == "Bearer"


@responses.activate
def test_a_refused_proof_is_logged_with_what_to_check(settings: Any, caplog: Any) -> None:
    from django_bff.dpop import new_key
    from django_bff.exceptions import TokenRequestRejected

    responses.post(TOKEN_URL, status=400, json={"error": "invalid_dpop_proof"})
    with pytest.raises(TokenRequestRejected):
        oauth.token_request({"grant_type": "refresh_token"}, dpop_jwk=new_key("EdDSA"))
    assert "django_bff.E055" in caplog.text
    with pytest.raises(ValueError, match="ES256"):
        new_key("HS256")
