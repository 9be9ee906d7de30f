"""Back-channel logout tokens for tests: keys, a token factory, and the checks every refusal must pass.

The fixtures that use these live in ``tests/logout_tokens/conftest.py``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from django_bff.exceptions import InvalidLogoutToken
from django_bff.logout_tokens import (
    BACKCHANNEL_LOGOUT_EVENT,
    validate_logout_token,
)

__all__ = [
    "URL",
    "FORM",
    "RSA_KID",
    "EC_KID",
    "SECURITY_LOGGER",
    "MISSING",
    "pem",
    "public_jwk",
    "b64url",
    "b64json",
    "logout_claims",
    "TokenFactory",
    "post_form",
    "assert_refused",
    "assert_accepted",
    "other_calls",
]

URL = "/bff/backchannel"
FORM = "application/x-www-form-urlencoded"
RSA_KID = "rsa-1"
EC_KID = "ec-1"
SECURITY_LOGGER = "django.security.django_bff"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: A claim or header value meaning "leave it out".
MISSING: Any = _Missing()


def pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    )


def public_jwk(key: Any, kid: str, alg: str | None, use: str = "sig") -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        data: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    data.update(kid=kid, use=use)
    if alg:
        data["alg"] = alg
    return data


def b64url(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")))


def logout_claims(settings: Any, **overrides: Any) -> dict[str, Any]:
    """A valid logout token's claims; ``name=MISSING`` leaves a claim out."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.BFF["AUTHORITY"],
        "aud": settings.OIDC_RP_CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        "sub": "alice",
        "sid": "s1",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not MISSING}


@dataclass
class TokenFactory:
    settings: Any
    rsa_key: Any
    ec_key: Any

    def __call__(
        self,
        alg: str = "RS256",
        *,
        key: Any = None,
        kid: Any = None,
        typ: Any = "logout+jwt",
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A logout token signed with PyJWT; by default a valid RS256 one."""
        if key is None:
            key = self.ec_key if alg.startswith("ES") else self.rsa_key
        if kid is None:
            kid = EC_KID if alg.startswith("ES") else RSA_KID
        header = {
            name: value for name, value in {"kid": kid, "typ": typ, **(headers or {})}.items() if value is not MISSING
        }
        header.setdefault("typ", None)  # PyJWT writes "typ": "JWT" unless told None, which drops it
        return jwt.encode(logout_claims(self.settings, **claims), pem(key), algorithm=alg, headers=header)

    def hand_made(
        self, header: dict[str, Any], signature: Callable[[bytes], bytes] | None = None, **claims: Any
    ) -> str:
        """A token built without PyJWT (alg none, HMAC): ``signature(signing_input)`` or empty."""
        signing_input = f"{b64json(header)}.{b64json(logout_claims(self.settings, **claims))}"
        sig = b64url(signature(signing_input.encode())) if signature else ""
        return f"{signing_input}.{sig}"


def post_form(client: Client, token: str | None, **extra: Any) -> Any:
    data = {} if token is None else {"logout_token": token}
    return client.post(URL, urlencode(data), content_type=FORM, **extra)


def assert_refused(client: Client, token: str) -> InvalidLogoutToken:
    """validate_logout_token raises, and the view answers 400 invalid_logout_token; neither shows the token."""
    with pytest.raises(InvalidLogoutToken) as caught:
        validate_logout_token(token)
    if len(token) >= 8:
        assert token not in str(caught.value)
    response = post_form(client, token)
    assert response.status_code == 400, response.content
    assert response.json() == {"error": "invalid_logout_token"}
    assert response["Cache-Control"] == "no-store"
    if len(token) >= 8:
        assert token.encode() not in response.content
    return caught.value


def assert_accepted(client: Client, token: str) -> dict[str, Any]:
    """validate_logout_token returns the claims, and the view answers 200 no-store."""
    claims = validate_logout_token(token)
    response = post_form(client, token)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert response.content == b""
    return claims


def other_calls(mock: responses.RequestsMock, settings: Any) -> list[str]:
    """HTTP calls other than fetching the JWKS."""
    return [c.request.url or "" for c in mock.calls if c.request.url != settings.OIDC_OP_JWKS_ENDPOINT]
