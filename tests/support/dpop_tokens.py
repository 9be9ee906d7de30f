"""DPoP-bound access tokens made by the tests themselves (until the provider makes them): a key pair, and a
token signed by :data:`tests.support.keys.KEY` whose ``cnf.jkt`` is that key's thumbprint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from django_bff.dpop import jwk_thumbprint
from django_bff.testing import sample_token
from django_bff.tokens import UserToken
from tests.support.keys import KEY

__all__ = ["ISSUER", "AUDIENCE", "BoundToken", "bound_token", "private_d"]

ISSUER = "https://idp.test"
AUDIENCE = "https://api.test"


@dataclass(frozen=True)
class BoundToken:
    """A DPoP key pair (``private_jwk``, JSON) and an access token bound to it."""

    private_jwk: str
    access_token: str

    def user_token(self, n: int = 1, **overrides: Any) -> UserToken:
        """A session's token record holding this token and its key, fresh for an hour."""
        now = datetime.now(timezone.utc)
        values: dict[str, Any] = {
            "access_token": self.access_token,
            "access_token_type": "DPoP",
            "dpop_jwk": self.private_jwk,
            "issued_at": now,
            "expires_at": now + timedelta(hours=1),
        }
        return sample_token(n, **{**values, **overrides})


def bound_token(sub: str = "alice", key: Any = None) -> BoundToken:
    """A fresh P-256 key (or ``key``) and an hour's access token bound to it."""
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    private_jwk = jwt.algorithms.ECAlgorithm.to_jwk(key)
    now = int(datetime.now(timezone.utc).timestamp())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now,
        "exp": now + 3600,
        "cnf": {"jkt": jwk_thumbprint(private_jwk)},
    }
    return BoundToken(private_jwk, jwt.encode(claims, KEY, algorithm="RS256"))


def private_d(private_jwk: str) -> str:
    """The private member ``d`` of a key: what must never leave the BFF."""
    value = json.loads(private_jwk)["d"]
    assert isinstance(value, str)
    return value
