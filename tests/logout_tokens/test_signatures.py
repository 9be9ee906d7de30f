"""Logout tokens refused for their algorithm, signature, key or header.

The checks every refusal passes are in ``tests/support/logout_tokens.py`` (``assert_refused``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from django.test import Client

from tests.support.logout_tokens import (
    EC_KID,
    MISSING,
    RSA_KID,
    TokenFactory,
    assert_accepted,
    assert_refused,
    b64json,
    public_jwk,
)

pytestmark = pytest.mark.django_db


# --- algorithms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(
    alg: str, client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    token = make_token.hand_made({"alg": alg, "typ": "logout+jwt"})
    assert token.endswith(".")
    assert_refused(client, token)
    assert len(provider.calls) == 0  # refused before any key is looked up


def test_alg_none_is_refused_even_when_configured(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    settings.BFF = {**settings.BFF, "BACKCHANNEL_LOGOUT_ALGORITHMS": ["none", "RS256"]}
    assert_refused(client, make_token.hand_made({"alg": "none", "typ": "logout+jwt"}))


def _hs256_with(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda signing_input: hmac.new(secret, signing_input, hashlib.sha256).digest()


def test_hs256_signed_with_client_secret_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    token = make_token.hand_made(
        {"alg": "HS256", "typ": "logout+jwt", "kid": RSA_KID}, _hs256_with(settings.OIDC_RP_CLIENT_SECRET.encode())
    )
    assert_refused(client, token)
    assert len(provider.calls) == 0


def test_hs256_is_refused_even_when_configured(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    settings.BFF = {**settings.BFF, "BACKCHANNEL_LOGOUT_ALGORITHMS": ["HS256", "RS256"]}
    token = make_token.hand_made({"alg": "HS256", "typ": "logout+jwt"}, _hs256_with(b"bff-secret"))
    assert_refused(client, token)


def test_hs256_signed_with_the_providers_public_key_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, rsa_key: Any
) -> None:
    """The classic algorithm confusion: the RSA public key used as an HMAC secret."""
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = make_token.hand_made({"alg": "HS256", "typ": "logout+jwt", "kid": RSA_KID}, _hs256_with(public_pem))
    assert_refused(client, token)


def test_alg_not_in_configured_algorithms_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    settings.BFF = {**settings.BFF, "BACKCHANNEL_LOGOUT_ALGORITHMS": ["ES256"]}
    assert_refused(client, make_token("RS256"))
    assert len(provider.calls) == 0
    assert_accepted(client, make_token("ES256"))


@pytest.mark.parametrize(
    ("alg", "kid"),
    [
        pytest.param("PS256", RSA_KID, id="PS256-with-RS256-key"),
        pytest.param("RS384", RSA_KID, id="RS384-with-RS256-key"),
    ],
)
def test_alg_not_matching_the_keys_alg_is_refused(
    alg: str, kid: str, client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    assert_refused(client, make_token(alg, kid=kid))


def test_es256_header_with_the_rsa_kid_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    assert_refused(client, make_token("ES256", kid=RSA_KID))


# --- signatures and keys ------------------------------------------------------------------------


def test_signed_by_another_key_with_the_same_kid_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, other_rsa_key: Any
) -> None:
    error = assert_refused(client, make_token(key=other_rsa_key, kid=RSA_KID))
    assert "InvalidSignatureError" in str(error)


def test_unknown_kid_is_refused(client: Client, provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    error = assert_refused(client, make_token(kid="unknown-kid"))
    assert "kid" in str(error)


def test_tampered_payload_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    header, payload, signature = make_token(sub="alice").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "bob"
    tampered = f"{header}.{b64json(claims)}.{signature}"
    error = assert_refused(client, tampered)
    assert "InvalidSignatureError" in str(error)


def test_stripped_signature_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    header, payload, _ = make_token().split(".")
    assert_refused(client, f"{header}.{payload}.")


def test_no_kid_with_two_candidate_keys_is_refused(
    client: Client,
    provider: responses.RequestsMock,
    make_token: TokenFactory,
    settings: Any,
    rsa_key: Any,
    other_rsa_key: Any,
) -> None:
    two = {"keys": [public_jwk(other_rsa_key, "rsa-0", "RS256"), public_jwk(rsa_key, RSA_KID, "RS256")]}
    provider.replace(responses.GET, settings.OIDC_OP_JWKS_ENDPOINT, json=two)
    assert_refused(client, make_token(kid=MISSING))


def test_encryption_key_is_not_used_to_verify(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any, rsa_key: Any
) -> None:
    provider.replace(
        responses.GET, settings.OIDC_OP_JWKS_ENDPOINT, json={"keys": [public_jwk(rsa_key, RSA_KID, None, use="enc")]}
    )
    assert_refused(client, make_token())


# --- header parameters --------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "logout+jwt+extra"])
def test_wrong_typ_is_refused(
    typ: str, client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    assert_refused(client, make_token(typ=typ))


def _rs256_with(key: Any) -> Callable[[bytes], bytes]:
    return lambda signing_input: bytes(key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()))


def test_hand_made_rs256_token_passes(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, rsa_key: Any
) -> None:
    """The control for the hand-made tokens below: the same construction without the faulty header passes."""
    token = make_token.hand_made({"alg": "RS256", "kid": RSA_KID, "typ": "logout+jwt"}, _rs256_with(rsa_key))
    assert_accepted(client, token)


@pytest.mark.parametrize(
    "crit",
    [pytest.param(["exp"], id="unknown-extension"), pytest.param([], id="empty")],
)
def test_crit_header_is_refused(
    crit: list[str], client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    token = make_token(headers={"crit": crit})
    encoded_header = token.split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(encoded_header + "=" * (-len(encoded_header) % 4)))["crit"] == crit
    assert_refused(client, token)


def test_crit_header_that_pyjwt_accepts_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, rsa_key: Any
) -> None:
    """crit ["b64"] with b64 true passes PyJWT's header checks; the module's own rule refuses it."""
    header = {"alg": "RS256", "kid": RSA_KID, "typ": "logout+jwt", "crit": ["b64"], "b64": True}
    token = make_token.hand_made(header, _rs256_with(rsa_key))
    assert jwt.get_unverified_header(token)["crit"] == ["b64"]
    error = assert_refused(client, token)
    assert "crit" in str(error)


def test_embedded_jwk_and_jku_are_not_trusted(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, other_rsa_key: Any
) -> None:
    """Only the provider's JWKS counts: a key carried in the header, or a JWKS URL it names, is ignored."""
    attacker = "http://attacker.example/jwks"
    token = make_token(
        key=other_rsa_key,
        kid=RSA_KID,
        headers={"jwk": public_jwk(other_rsa_key, RSA_KID, "RS256"), "jku": attacker},
    )
    assert_refused(client, token)
    assert all(c.request.url != attacker for c in provider.calls)


@pytest.mark.parametrize(("alg", "kid"), [pytest.param("RS256", EC_KID), pytest.param("ES256", RSA_KID)])
def test_alg_of_another_key_type_against_a_jwk_without_alg_is_refused(
    alg: str,
    kid: str,
    client: Client,
    provider: responses.RequestsMock,
    make_token: TokenFactory,
    settings: Any,
    rsa_key: Any,
    ec_key: Any,
    other_rsa_key: Any,
) -> None:
    """Many providers publish keys without "alg"; a token naming the wrong key type must still be a 400."""
    without_alg = {"keys": [public_jwk(rsa_key, RSA_KID, None), public_jwk(ec_key, EC_KID, None)]}
    provider.replace(responses.GET, settings.OIDC_OP_JWKS_ENDPOINT, json=without_alg)
    signer = ec.generate_private_key(ec.SECP256R1()) if alg.startswith("ES") else other_rsa_key
    assert_refused(client, make_token(alg, key=signer, kid=kid))
