"""The provider's keys and JWKS, and a logout-token factory, for the back-channel logout tests.

Every refused token is checked twice: :func:`validate_logout_token` raises
:class:`InvalidLogoutToken`, and the view answers 400 ``{"error": "invalid_logout_token"}``.
The provider's JWKS is served by ``responses``; any other HTTP call fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.logout_tokens import (
    EC_KID,
    RSA_KID,
    TokenFactory,
    public_jwk,
)


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> Any:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def jwks(rsa_key: Any, ec_key: Any) -> dict[str, Any]:
    """The provider's public JWKS: the RSA key (RS256) and the EC P-256 key (ES256)."""
    return {"keys": [public_jwk(rsa_key, RSA_KID, "RS256"), public_jwk(ec_key, EC_KID, "ES256")]}


@pytest.fixture
def provider(settings: Any, jwks: dict[str, Any]) -> Iterator[responses.RequestsMock]:
    """The provider's JWKS endpoint; any other HTTP call fails (ConnectionError from responses)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(settings.OIDC_OP_JWKS_ENDPOINT, json=jwks)
        yield mock


@pytest.fixture
def make_token(settings: Any, rsa_key: Any, ec_key: Any) -> TokenFactory:
    return TokenFactory(settings, rsa_key, ec_key)
