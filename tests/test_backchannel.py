from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
import requests
import responses

from django_bff import backchannel
from django_bff.backchannel import (
    BackchannelSession,
    default_session,
    get_backchannel_session,
    get_discovery_document,
    get_endpoint,
    get_signing_key,
)
from django_bff.exceptions import BFFImproperlyConfigured, TokenServiceUnavailable
from tests.support.keys import KEY, OTHER_KEY, jwk

ISSUER = "http://127.0.0.1:9"
DISCOVERY = ISSUER + "/.well-known/openid-configuration"
JWKS = ISSUER + "/jwks"
CALLS: list[str] = []


def custom_session() -> requests.Session:
    CALLS.append("made")
    session = requests.Session()
    session.headers["X-Corp"] = "yes"
    return session


def not_a_session() -> object:
    return object()


def test_default_session_has_finite_timeouts_pool_and_user_agent(settings: Any) -> None:
    settings.BFF = {
        **settings.BFF,
        "BACKCHANNEL_CONNECT_TIMEOUT": 1.5,
        "BACKCHANNEL_READ_TIMEOUT": 4.0,
        "BACKCHANNEL_POOL_SIZE": 3,
        "BACKCHANNEL_VERIFY": False,
    }
    session = default_session()
    assert isinstance(session, BackchannelSession)
    assert session.timeout == (1.5, 4.0)
    assert session.verify is False
    assert session.get_adapter("https://x")._pool_maxsize == 3  # type: ignore[attr-defined]
    assert session.headers["User-Agent"].startswith("django-bff/")


@responses.activate
def test_default_session_never_follows_redirects() -> None:
    responses.get(ISSUER + "/a", status=302, headers={"Location": "http://elsewhere.example/b"})
    response = default_session().get(ISSUER + "/a")
    assert response.status_code == 302 and len(responses.calls) == 1
    assert responses.calls[0].request.req_kwargs["timeout"] == (2.0, 5.0)  # type: ignore[attr-defined]


@responses.activate
def test_the_configured_session_is_used_for_every_call(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "BACKCHANNEL_SESSION": "tests.test_backchannel.custom_session"}
    CALLS.clear()
    responses.get(DISCOVERY, json={"issuer": ISSUER, "revocation_endpoint": ISSUER + "/revoke", "jwks_uri": JWKS})
    responses.get(JWKS, json={"keys": [jwk(KEY, "k1")]})
    responses.post(ISSUER + "/revoke")
    responses.post(ISSUER + "/token", json={"access_token": "x-AAAAAAAAAA"})
    from django_bff import oauth

    assert oauth.revoke("rt-secret-value") is True
    get_signing_key(JWKS, "k1", "RS256")
    oauth.token_request({"grant_type": "client_credentials"})
    assert all(c.request.headers.get("X-Corp") == "yes" for c in responses.calls)
    assert len(responses.calls) == 4
    assert CALLS == ["made"] and get_backchannel_session() is get_backchannel_session()


def test_a_factory_returning_something_else_is_refused(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "BACKCHANNEL_SESSION": "tests.test_backchannel.not_a_session"}
    with pytest.raises(BFFImproperlyConfigured, match="must return a requests.Session"):
        get_backchannel_session()


@responses.activate
def test_discovery_is_cached_with_a_ttl(settings: Any, monkeypatch: Any) -> None:
    responses.get(DISCOVERY, json={"issuer": ISSUER + "/", "token_endpoint": ISSUER + "/t"})
    assert get_endpoint("token_endpoint") == settings.OIDC_OP_TOKEN_ENDPOINT  # explicit setting wins
    assert get_endpoint("revocation_endpoint") is None
    assert get_discovery_document()["token_endpoint"] == ISSUER + "/t"
    assert len(responses.calls) == 1
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    backchannel.clear_caches()
    get_discovery_document()
    clock[0] += 3599
    get_discovery_document()
    assert len(responses.calls) == 2
    clock[0] += 2
    get_discovery_document()
    assert len(responses.calls) == 3


@pytest.mark.parametrize(
    "answer, message",
    [
        ({"status": 500}, "HTTP 500"),
        ({"body": "<html>", "status": 200}, "not answer JSON"),
        ({"json": [1], "status": 200}, "JSON object"),
        ({"json": {"issuer": "http://evil.example"}}, "issuer does not match"),
        ({"body": requests.ConnectionError("down")}, "unreachable"),
    ],
)
@responses.activate
def test_discovery_failures_are_unavailable(answer: dict[str, Any], message: str) -> None:
    responses.get(DISCOVERY, **answer)
    with pytest.raises(TokenServiceUnavailable, match=message):
        get_discovery_document()


def test_discovery_needs_an_authority(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "AUTHORITY": None}
    with pytest.raises(BFFImproperlyConfigured):
        get_discovery_document()
    assert get_endpoint("revocation_endpoint") is None


@responses.activate
def test_jwks_refetch_is_rate_limited(settings: Any, monkeypatch: Any) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    responses.get(JWKS, json={"keys": [jwk(KEY, "k1")]})
    assert get_signing_key(JWKS, "k1", "RS256")
    with pytest.raises(LookupError):
        get_signing_key(JWKS, "forged", "RS256")  # within 30 s of the fetch: no re-fetch
    assert len(responses.calls) == 1
    clock[0] += 31
    with pytest.raises(LookupError):
        get_signing_key(JWKS, "forged", "RS256")
    assert len(responses.calls) == 2
    clock[0] += 3600
    responses.replace(responses.GET, JWKS, json={"keys": [jwk(OTHER_KEY, "k2")]})
    assert get_signing_key(JWKS, "k2", "RS256")  # TTL passed: fetched again
    assert len(responses.calls) == 3


@responses.activate
def test_jwks_key_selection() -> None:
    enc = {**jwk(OTHER_KEY, "enc"), "use": "enc"}
    responses.get(JWKS, json={"keys": [jwk(KEY, "k1"), enc, "junk"]})
    assert get_signing_key(JWKS, None, "RS256")  # one signing key: no kid needed
    with pytest.raises(LookupError):
        get_signing_key(JWKS, "enc", "RS256")
    with pytest.raises(LookupError):
        get_signing_key(JWKS, "k1", "ES256")


@responses.activate
def test_jwks_without_keys_is_unavailable() -> None:
    responses.get(JWKS, json={"nokeys": True})
    with pytest.raises(TokenServiceUnavailable):
        get_signing_key(JWKS, "k1", "RS256")


def test_a_key_of_another_type_never_matches(settings: Any) -> None:
    """A JWKS key without "alg" must not be picked for an algorithm of another key type."""
    import responses
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    ec_jwk["kid"] = "k1"
    with responses.RequestsMock() as mock:
        mock.get("http://127.0.0.1:9/jwks", json={"keys": [ec_jwk]})
        with pytest.raises(LookupError):
            get_signing_key("http://127.0.0.1:9/jwks", "k1", "RS256")
        assert get_signing_key("http://127.0.0.1:9/jwks", "k1", "ES256").key_type == "EC"


def test_a_malformed_key_is_a_lookup_error(settings: Any) -> None:
    import responses

    with responses.RequestsMock() as mock:
        mock.get("http://127.0.0.1:9/jwks", json={"keys": [{"kty": "RSA", "kid": "k1", "n": "!!", "e": "AQAB"}]})
        with pytest.raises(LookupError):
            get_signing_key("http://127.0.0.1:9/jwks", "k1", "RS256")


def test_a_missing_endpoint_is_a_warning_once_per_process(caplog: Any, settings: Any) -> None:
    import logging

    def lines(level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "django_bff.backchannel" and r.levelno == level]

    backchannel.note_missing_endpoint("revocation_endpoint", "nothing revoked")
    backchannel.note_missing_endpoint("revocation_endpoint", "nothing revoked")
    backchannel.note_missing_endpoint("end_session_endpoint", "no provider logout")
    warnings = lines(logging.WARNING)
    assert len(warnings) == 2 and "revocation_endpoint" in warnings[0] and "end_session_endpoint" in warnings[1]
    assert len(lines(logging.DEBUG)) == 1
    settings.BFF = {**settings.BFF}  # new settings: said again
    backchannel.note_missing_endpoint("revocation_endpoint", "nothing revoked")
    assert len(lines(logging.WARNING)) == 3
