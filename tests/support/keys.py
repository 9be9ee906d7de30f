"""The identity provider's signing keys in unit tests (made once per run) and their public JWKs."""

from __future__ import annotations

import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["KEY", "OTHER_KEY", "jwk"]

#: The key the (fake) provider signs with.
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
#: A key the provider does not publish.
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: Any, kid: str) -> dict[str, Any]:
    """``key``'s public half as a JWK with ``kid``, for a JWKS answer."""
    data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    data.update(kid=kid, alg="RS256", use="sig")
    return data
