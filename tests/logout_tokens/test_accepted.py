"""Logout tokens that pass ``validate_logout_token`` and ``/bff/backchannel``.

The checks every refusal passes are in ``tests/support/logout_tokens.py`` (``assert_refused``).
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
import responses
from django.test import Client

from django_bff.logout_tokens import (
    BACKCHANNEL_LOGOUT_EVENT,
    MAX_TOKEN_LENGTH,
)
from tests.support.logout_tokens import (
    MISSING,
    TokenFactory,
    assert_accepted,
    other_calls,
)

pytestmark = pytest.mark.django_db


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
