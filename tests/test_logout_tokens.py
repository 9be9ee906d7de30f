"""Back-channel logout: :mod:`django_bff.logout_tokens` and ``/bff/backchannel``.

Every refused token is checked twice: :func:`validate_logout_token` raises
:class:`InvalidLogoutToken`, and the view answers 400 ``{"error": "invalid_logout_token"}``.
The provider's JWKS is served by ``responses``; any other HTTP call fails the test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import Client

from django_bff import views
from django_bff.exceptions import InvalidLogoutToken
from django_bff.logout_tokens import (
    BACKCHANNEL_LOGOUT_EVENT,
    MAX_TOKEN_LENGTH,
    forget_jti,
    remember_jti,
    validate_logout_token,
)
from django_bff.sessions import SESSION_SID_KEY, SESSION_SUB_KEY, list_sessions, record_session
from django_bff.stores import get_token_store
from django_bff.tokens import UserToken

pytestmark = pytest.mark.django_db

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


# --- keys, JWKS and tokens ----------------------------------------------------------------------


def _pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
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


def public_jwk(key: Any, kid: str, alg: str | None, use: str = "sig") -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        data: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        data = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    data.update(kid=kid, use=use)
    if alg:
        data["alg"] = alg
    return data


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
        return jwt.encode(logout_claims(self.settings, **claims), _pem(key), algorithm=alg, headers=header)

    def hand_made(
        self, header: dict[str, Any], signature: Callable[[bytes], bytes] | None = None, **claims: Any
    ) -> str:
        """A token built without PyJWT (alg none, HMAC): ``signature(signing_input)`` or empty."""
        signing_input = f"{b64json(header)}.{b64json(logout_claims(self.settings, **claims))}"
        sig = b64url(signature(signing_input.encode())) if signature else ""
        return f"{signing_input}.{sig}"


@pytest.fixture
def make_token(settings: Any, rsa_key: Any, ec_key: Any) -> TokenFactory:
    return TokenFactory(settings, rsa_key, ec_key)


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


# --- tokens that pass ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_valid_token_passes(
    alg: str, client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    token = make_token(alg)
    assert jwt.get_unverified_header(token)["alg"] == alg
    claims = assert_accepted(client, token)
    assert claims["sub"] == "alice" and claims["sid"] == "s1"
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert other_calls(provider, settings) == []


def test_typ_absent_passes(client: Client, provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    token = make_token(typ=MISSING)
    assert "typ" not in jwt.get_unverified_header(token)
    assert_accepted(client, token)


@pytest.mark.parametrize("typ", ["application/logout+jwt", "Logout+JWT"])
def test_typ_variants_pass(
    typ: str, client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    token = make_token(typ=typ)
    assert jwt.get_unverified_header(token)["typ"] == typ
    assert_accepted(client, token)


def test_aud_list_containing_client_id_passes(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    assert_accepted(client, make_token(aud=["another-client", "bff"]))


@pytest.mark.parametrize(
    "claims",
    [pytest.param({"sid": MISSING}, id="sub-only"), pytest.param({"sub": MISSING}, id="sid-only")],
)
def test_sub_or_sid_alone_passes(
    claims: dict[str, Any], client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    assert_accepted(client, make_token(**claims))


def test_iat_within_max_age_and_leeway_passes(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    now = int(time.time())
    assert_accepted(client, make_token(iat=now - 290))
    assert_accepted(client, make_token(iat=now + 10))  # a provider clock a little ahead


def test_token_without_kid_passes_when_one_key_matches_alg(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    token = make_token(kid=MISSING)
    assert "kid" not in jwt.get_unverified_header(token)
    assert_accepted(client, token)


def test_jwks_is_fetched_once_and_cached(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    for _ in range(3):
        assert_accepted(client, make_token())
    assert [c.request.url for c in provider.calls] == [settings.OIDC_OP_JWKS_ENDPOINT]


def test_token_just_under_the_length_limit_passes(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    def sized(padding: int) -> str:
        return make_token(jti="jti-near-the-limit", padding="x" * padding)

    padding = (MAX_TOKEN_LENGTH - len(sized(0))) * 3 // 4  # base64url: 4 characters per 3 bytes
    while len(sized(padding + 1)) <= MAX_TOKEN_LENGTH:
        padding += 1
    while len(sized(padding)) > MAX_TOKEN_LENGTH:
        padding -= 1
    token = sized(padding)
    assert MAX_TOKEN_LENGTH - 4 <= len(token) <= MAX_TOKEN_LENGTH
    assert_accepted(client, token)


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


# --- claims -------------------------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


NO_EVENT = "events has no back-channel logout event"

#: (claim overrides, made at call time so that "now" is fresh; the rule the refusal names)
CLAIM_CASES: list[Any] = [
    pytest.param(lambda: {"iss": "http://evil.example"}, "iss is not the provider", id="wrong-iss"),
    pytest.param(lambda: {"iss": MISSING}, "MissingRequiredClaimError", id="missing-iss"),
    pytest.param(lambda: {"aud": "other-client"}, "InvalidAudienceError", id="wrong-aud"),
    pytest.param(lambda: {"aud": ["other-client", "third"]}, "InvalidAudienceError", id="aud-list-without-client-id"),
    pytest.param(lambda: {"aud": MISSING}, "MissingRequiredClaimError", id="missing-aud"),
    pytest.param(lambda: {"iat": MISSING}, "MissingRequiredClaimError", id="missing-iat"),
    pytest.param(lambda: {"iat": "yesterday"}, "InvalidIssuedAtError", id="iat-not-a-number"),
    pytest.param(lambda: {"iat": _now() + 120, "exp": _now() + 300}, "ImmatureSignatureError", id="iat-in-the-future"),
    pytest.param(lambda: {"iat": _now() - 300 - 30 - 15}, "iat is too old", id="iat-older-than-max-age"),
    pytest.param(lambda: {"iat": _now() - 100, "exp": _now() - 60}, "ExpiredSignatureError", id="expired"),
    pytest.param(lambda: {"jti": MISSING}, "MissingRequiredClaimError", id="missing-jti"),
    pytest.param(lambda: {"jti": 12345}, "InvalidJTIError", id="jti-not-a-string"),
    pytest.param(lambda: {"jti": ""}, "jti is not a non-empty string", id="jti-empty"),
    pytest.param(lambda: {"jti": "j" * 256}, "jti is not a non-empty string", id="jti-too-long"),
    pytest.param(lambda: {"events": MISSING}, "MissingRequiredClaimError", id="missing-events"),
    pytest.param(lambda: {"events": {}}, NO_EVENT, id="events-empty"),
    pytest.param(
        lambda: {"events": {"http://example.test/other-event": {}}},
        NO_EVENT,
        id="events-without-member",
    ),
    pytest.param(
        lambda: {"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}},
        NO_EVENT,
        id="events-member-a-string",
    ),
    pytest.param(
        lambda: {"events": {BACKCHANNEL_LOGOUT_EVENT: []}},
        NO_EVENT,
        id="events-member-a-list",
    ),
    pytest.param(
        lambda: {"events": {BACKCHANNEL_LOGOUT_EVENT: None}},
        NO_EVENT,
        id="events-member-null",
    ),
    pytest.param(lambda: {"events": [BACKCHANNEL_LOGOUT_EVENT]}, NO_EVENT, id="events-a-list"),
    pytest.param(lambda: {"events": BACKCHANNEL_LOGOUT_EVENT}, NO_EVENT, id="events-a-string"),
    pytest.param(lambda: {"sub": MISSING, "sid": MISSING}, "neither sub nor sid", id="neither-sub-nor-sid"),
    pytest.param(lambda: {"sub": "", "sid": MISSING}, "sub is not a non-empty string", id="sub-empty"),
    pytest.param(lambda: {"sub": ""}, "sub is not a non-empty string", id="sub-empty-with-sid"),
    pytest.param(lambda: {"sid": "", "sub": MISSING}, "sid is not a non-empty string", id="sid-empty"),
    pytest.param(lambda: {"sub": 42}, "InvalidSubjectError", id="sub-not-a-string"),
    pytest.param(lambda: {"sid": ["s1"]}, "sid is not a non-empty string", id="sid-not-a-string"),
    pytest.param(lambda: {"sid": "s" * 256}, "sid is not a non-empty string", id="sid-too-long"),
    pytest.param(lambda: {"nonce": "n-1"}, "must not contain a nonce", id="nonce-present"),
]


@pytest.mark.parametrize(("overrides", "reason"), CLAIM_CASES)
def test_bad_claims_are_refused(
    overrides: Callable[[], dict[str, Any]],
    reason: str,
    client: Client,
    provider: responses.RequestsMock,
    make_token: TokenFactory,
) -> None:
    error = assert_refused(client, make_token(**overrides()))
    assert reason in str(error)


def test_max_age_setting_is_honoured(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    settings.BFF = {**settings.BFF, "BACKCHANNEL_LOGOUT_MAX_AGE": 60}
    error = assert_refused(client, make_token(iat=_now() - 60 - 30 - 15))
    assert "too old" in str(error)
    assert_accepted(client, make_token(iat=_now() - 50))


# --- replay -------------------------------------------------------------------------------------


def test_replayed_token_is_refused(client: Client, provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    token = make_token()
    first = post_form(client, token)
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    second = post_form(client, token)
    assert second.status_code == 400
    assert second.json() == {"error": "invalid_logout_token"}


def test_replay_with_the_same_jti_in_another_token_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    assert post_form(client, make_token(jti="jti-1", sid="s1")).status_code == 200
    assert post_form(client, make_token(jti="jti-1", sid="s2")).status_code == 400
    assert post_form(client, make_token(jti="jti-2", sid="s2")).status_code == 200


def test_validate_does_not_consume_the_jti(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    token = make_token()
    validate_logout_token(token)
    validate_logout_token(token)
    assert post_form(client, token).status_code == 200


def test_remember_and_forget_jti(settings: Any) -> None:
    claims = logout_claims(settings)
    remember_jti(claims)
    with pytest.raises(InvalidLogoutToken, match="seen before"):
        remember_jti(claims)
    with pytest.raises(InvalidLogoutToken):
        remember_jti({**claims, "sid": "another"})  # the jti alone counts
    forget_jti(claims)
    remember_jti(claims)
    remember_jti({**claims, "iss": "http://another-issuer.example"})  # a jti is unique per issuer
    forget_jti(logout_claims(settings))  # forgetting an unknown jti is not an error


def test_remembered_jti_outlives_the_token(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.cache import caches

    timeouts: list[Any] = []
    cache = caches["default"]
    original = cache.add

    def spy(key: str, value: Any, timeout: Any = None, version: Any = None) -> bool:
        timeouts.append(timeout)
        return bool(original(key, value, timeout, version))

    monkeypatch.setattr(cache, "add", spy)
    now = _now()
    remember_jti(logout_claims(settings, iat=now, exp=now + 1000))
    remember_jti(logout_claims(settings, iat=now, exp=MISSING))
    assert timeouts[0] >= 1000
    assert timeouts[1] >= 300  # BACKCHANNEL_LOGOUT_MAX_AGE


def test_replay_is_detected_through_a_shared_redis_cache(
    redis_cache: str, client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    token = make_token()
    assert post_form(client, token).status_code == 200
    assert post_form(client, token).status_code == 400


# --- configuration and provider failures --------------------------------------------------------


@pytest.mark.parametrize("authority", [None, ""])
def test_authority_unset_is_refused(
    authority: Any, client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    token = make_token()
    settings.BFF = {**settings.BFF, "AUTHORITY": authority}
    error = assert_refused(client, token)
    assert "AUTHORITY" in str(error)


@pytest.mark.parametrize("status", [500, 404])
def test_jwks_endpoint_failing_is_refused(
    status: int, client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    provider.replace(responses.GET, settings.OIDC_OP_JWKS_ENDPOINT, status=status, body="oops")
    error = assert_refused(client, make_token())
    assert "JWKS" in str(error)


def test_jwks_endpoint_answering_garbage_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    provider.replace(responses.GET, settings.OIDC_OP_JWKS_ENDPOINT, json={"no": "keys"})
    assert_refused(client, make_token())


def test_jwks_endpoint_unreachable_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    import requests

    provider.replace(responses.GET, settings.OIDC_OP_JWKS_ENDPOINT, body=requests.ConnectionError("refused"))
    assert_refused(client, make_token())


# --- malformed requests -------------------------------------------------------------------------


def test_token_longer_than_the_limit_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    token = make_token(padding="x" * MAX_TOKEN_LENGTH)
    assert len(token) > MAX_TOKEN_LENGTH
    error = assert_refused(client, token)
    assert "too long" in str(error)
    assert len(provider.calls) == 0


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "eyJ.eyJ.x", "....", pytest.param("ééé", id="non-ascii")])
def test_not_a_jwt_is_refused(garbage: str, client: Client, provider: responses.RequestsMock) -> None:
    assert_refused(client, garbage)
    assert len(provider.calls) == 0


def test_get_is_not_allowed(client: Client, provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    assert client.get(URL, {"logout_token": make_token()}).status_code == 405
    assert client.put(URL, urlencode({"logout_token": make_token()}), content_type=FORM).status_code == 405


def test_json_body_is_refused_and_does_not_consume_the_jti(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    token = make_token()
    response = client.post(URL, {"logout_token": token}, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_logout_token"}
    assert post_form(client, token).status_code == 200


def test_multipart_body_is_refused(client: Client, provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    """The spec's POST is form-urlencoded; the test client's default (multipart) is refused."""
    response = client.post(URL, {"logout_token": make_token()})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_logout_token"}


def test_form_with_charset_passes(client: Client, provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    body = urlencode({"logout_token": make_token()})
    response = client.post(URL, body, content_type=FORM + "; charset=UTF-8")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(None, id="empty-body"),
        pytest.param({"token": "x"}, id="other-field"),
        pytest.param({"logout_token": ""}, id="empty-value"),
    ],
)
def test_missing_logout_token_is_refused(body: dict[str, str] | None, client: Client, provider: Any) -> None:
    response = client.post(URL, urlencode(body or {}), content_type=FORM)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_logout_token"}
    assert len(provider.calls) == 0


def test_view_is_csrf_exempt(provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    client = Client(enforce_csrf_checks=True)
    assert post_form(client, make_token()).status_code == 200


# --- ending sessions ----------------------------------------------------------------------------


def _login(sub: str, sid: str) -> str:
    """A logged-in session in the database session store, recorded in the session index."""
    store = SessionStore()
    store["_auth_user_id"] = "1"
    store["greeting"] = "hello"
    store.create()
    request = HttpRequest()
    request.session = store
    record_session(request, sub, sid)
    store.save()
    assert store.session_key
    return store.session_key


@pytest.fixture
def sessions(settings: Any) -> dict[str, str]:
    """sid -> session key: alice is logged in twice (s1, s2), bob once (s3)."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    keys = {"s1": _login("alice", "s1"), "s2": _login("alice", "s2"), "s3": _login("bob", "s3")}
    for sid, key in keys.items():
        assert SessionStore(key).load()[SESSION_SID_KEY] == sid
    return keys


@pytest.mark.parametrize(
    ("claims", "ended"),
    [
        pytest.param({"sid": "s1", "sub": MISSING}, {"s1"}, id="sid-s1"),
        pytest.param({"sub": "alice", "sid": MISSING}, {"s1", "s2"}, id="sub-alice"),
        pytest.param({"sub": "alice", "sid": "s2"}, {"s2"}, id="alice-s2"),
        pytest.param({"sub": "bob", "sid": "s1"}, set(), id="bob-s1-no-match"),
        pytest.param({"sub": "carol", "sid": MISSING}, set(), id="unknown-sub"),
        pytest.param({"sid": "s9", "sub": MISSING}, set(), id="unknown-sid"),
        pytest.param({"sub": "bob", "sid": MISSING}, {"s3"}, id="sub-bob"),
    ],
)
def test_backchannel_logout_ends_matching_sessions(
    claims: dict[str, Any],
    ended: set[str],
    sessions: dict[str, str],
    client: Client,
    provider: responses.RequestsMock,
    make_token: TokenFactory,
    settings: Any,
) -> None:
    response = post_form(client, make_token(**claims))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    for sid, key in sessions.items():
        assert SessionStore().exists(key) is (sid not in ended), sid
        assert bool(list_sessions(sid=sid)) is (sid not in ended), sid
    assert other_calls(provider, settings) == []  # no tokens stored: nothing to revoke


def test_ended_session_no_longer_authenticates(
    sessions: dict[str, str], client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    assert SessionStore(sessions["s1"]).load()[SESSION_SUB_KEY] == "alice"
    assert post_form(client, make_token(sid="s1", sub=MISSING)).status_code == 200
    assert SessionStore(sessions["s1"]).load() == {}  # a deleted session loads empty
    assert SessionStore(sessions["s2"]).load()[SESSION_SUB_KEY] == "alice"


@pytest.mark.parametrize("revoke", [True, False])
def test_backchannel_logout_revokes_and_clears_the_refresh_token(
    revoke: bool,
    settings: Any,
    client: Client,
    provider: responses.RequestsMock,
    make_token: TokenFactory,
    leak_guard: Any,
) -> None:
    revocation = f"{settings.BFF['AUTHORITY']}/revoke"
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    settings.BFF = {**settings.BFF, "REVOCATION_ENDPOINT": revocation, "REVOKE_REFRESH_TOKEN_ON_LOGOUT": revoke}
    access, refresh = "at-" + secrets.token_urlsafe(16), "rt-" + secrets.token_urlsafe(16)
    leak_guard.add(access, refresh)
    key = _login("alice", "s1")
    store = SessionStore(key)
    request = HttpRequest()
    request.session = store
    get_token_store().store_token(request, UserToken(access_token=access, refresh_token=refresh))
    store.save()
    assert get_token_store().get_token(request) is not None
    provider.post(revocation, status=200)

    assert post_form(client, make_token(sid="s1")).status_code == 200

    assert SessionStore().exists(key) is False
    check = HttpRequest()
    check.session = store  # the ended session's token record is gone too
    assert get_token_store().get_token(check) is None
    revoked = [c for c in provider.calls if c.request.url == revocation]
    if revoke:
        assert len(revoked) == 1
        body = revoked[0].request.body
        form = parse_qs(body if isinstance(body, str) else (body or b"").decode())
        assert form["token"] == [refresh] and form["token_type_hint"] == ["refresh_token"]
    else:
        assert revoked == []
    assert [u for u in other_calls(provider, settings) if u != revocation] == []


def test_failed_logout_answers_logout_failed_and_forgets_the_jti(
    sessions: dict[str, str],
    client: Client,
    provider: responses.RequestsMock,
    make_token: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom(**kwargs: Any) -> int:
        raise RuntimeError("session storage is down")

    monkeypatch.setattr(views, "end_sessions", boom)
    token = make_token(sid="s1", sub=MISSING)
    with caplog.at_level(logging.ERROR, logger="django_bff.views"):
        response = post_form(client, token)
    assert response.status_code == 400
    assert response.json() == {"error": "logout_failed"}
    assert SessionStore().exists(sessions["s1"]) is True
    assert any(r.name == "django_bff.views" and r.exc_info for r in caplog.records)
    assert all(token not in r.getMessage() for r in caplog.records)

    monkeypatch.undo()
    retry = post_form(client, token)
    assert retry.status_code == 200
    assert SessionStore().exists(sessions["s1"]) is False
    assert post_form(client, token).status_code == 400  # now it is consumed


def test_a_jti_cache_that_is_down_refuses_instead_of_risking_a_replay(
    sessions: dict[str, str], client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    from tests.support.redis_server import free_port

    settings.CACHES = {
        **settings.CACHES,
        "dead": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    settings.BFF = {**settings.BFF, "CACHE": "dead"}
    response = post_form(client, make_token(sid="s1", sub=MISSING))
    assert response.status_code == 503 and response.json() == {"error": "storage_unavailable"}
    assert response["Retry-After"] == "5"
    assert SessionStore().exists(sessions["s1"]) is True


def test_a_session_storage_outage_while_ending_sessions_is_503_and_forgets_the_jti(
    sessions: dict[str, str],
    client: Client,
    provider: responses.RequestsMock,
    make_token: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import OperationalError

    def down(**kwargs: Any) -> int:
        raise OperationalError("the database is down")

    monkeypatch.setattr(views, "end_sessions", down)
    token = make_token(sid="s1", sub=MISSING)
    response = post_form(client, token)
    assert response.status_code == 503 and response.json() == {"error": "storage_unavailable"}
    monkeypatch.undo()
    assert post_form(client, token).status_code == 200  # the provider's retry is accepted
    assert SessionStore().exists(sessions["s1"]) is False


# --- the security log ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda f: f(iss="http://evil.example"), id="wrong-iss"),
        pytest.param(lambda f: f(typ="JWT"), id="wrong-typ"),
        pytest.param(lambda f: f(kid="unknown"), id="unknown-kid"),
        pytest.param(lambda f: f.hand_made({"alg": "none"}), id="alg-none"),
    ],
)
def test_refused_token_is_logged_without_the_token(
    bad: Callable[[TokenFactory], str],
    client: Client,
    provider: responses.RequestsMock,
    make_token: TokenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = bad(make_token)
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        response = post_form(client, token)
    assert response.status_code == 400
    warnings = [r for r in caplog.records if r.name == SECURITY_LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith("back-channel logout refused: ")
    for record in caplog.records:
        text = record.getMessage()
        assert token not in text
        for part in token.split("."):
            assert len(part) < 8 or part not in text


def test_form_refusal_is_logged(
    client: Client, provider: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        client.post(URL, {"logout_token": "x"}, content_type="application/json")
    assert [r.getMessage() for r in caplog.records if r.name == SECURITY_LOGGER] == [
        "back-channel logout refused: not a form post"
    ]


def test_accepted_token_logs_no_warning(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    token = make_token()
    with caplog.at_level(logging.DEBUG):
        assert post_form(client, token).status_code == 200
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert all(token not in r.getMessage() for r in caplog.records)
