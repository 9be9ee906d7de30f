from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from django_bff.tokens import ClientToken, TokenError, TokenResult, TokenType, UserToken, expires_at_from_response

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "expires_in, expected",
    [
        (300, NOW + timedelta(seconds=300)),
        ("60", NOW + timedelta(seconds=60)),
        (None, None),
        (True, None),
        ("soon", None),
        (-1, None),
        (float("nan"), None),
        ([], None),
    ],
)
def test_expires_in_becomes_absolute(expires_in: object, expected: datetime | None) -> None:
    assert expires_at_from_response({"expires_in": expires_in}, NOW) == expected


def test_expiry_maths() -> None:
    token = UserToken("a-token", expires_at=NOW + timedelta(seconds=90))
    assert token.expires_in(NOW) == 90
    assert not token.needs_refresh(60, NOW)
    assert token.needs_refresh(60, NOW + timedelta(seconds=31))
    unknown = UserToken("a-token")
    assert unknown.expires_in() is None and not unknown.needs_refresh(60)


def test_refresh_response_keeps_what_it_leaves_out() -> None:
    old = UserToken(
        "old", refresh_token="rt-old", identity_token="id-old", scope="openid api", client_id="bff", resource="urn:a"
    )
    new = UserToken.from_token_response(
        {"access_token": "new", "token_type": "bearer", "expires_in": 10}, previous=old, now=NOW
    )
    assert (new.refresh_token, new.identity_token, new.scope, new.client_id, new.resource) == (
        "rt-old",
        "id-old",
        "openid api",
        "bff",
        "urn:a",
    )
    assert new.access_token_type == "bearer" and new.expires_at == NOW + timedelta(seconds=10)
    rotated = UserToken.from_token_response(
        {"access_token": "n", "refresh_token": "rt-new", "id_token": "id-new", "scope": "api"}, previous=old
    )
    assert (rotated.refresh_token, rotated.identity_token, rotated.scope, rotated.expires_at) == (
        "rt-new",
        "id-new",
        "api",
        None,
    )


@pytest.mark.parametrize("response", [{}, {"access_token": ""}, {"access_token": 5}])
def test_a_response_without_access_token_is_refused(response: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        UserToken.from_token_response(response)


def test_serialisation_round_trip() -> None:
    token = UserToken("a", "DPoP", "r", NOW, "s", "i", "c", '{"kty":"EC"}', "urn:r")
    assert UserToken.from_dict({**token.to_dict(), "unknown_future_field": 1}) == token
    assert UserToken.from_dict(UserToken("a").to_dict()) == UserToken("a")


def test_repr_never_shows_token_values() -> None:
    for token in (
        UserToken("secret-access", refresh_token="secret-refresh", identity_token="secret-id"),
        ClientToken("secret-access"),
    ):
        assert "secret" not in repr(token) and "secret" not in str(token)


def test_results_and_codes() -> None:
    ok = TokenResult(token=UserToken("a"))
    assert ok and not ok.is_error and ok.access_token == "a" and not ok.transient
    bad = TokenResult(error=TokenError.TOKEN_SERVICE_UNAVAILABLE, retry_after=5)
    assert not bad and bad.is_error and bad.transient and bad.access_token is None
    assert {e.value for e in TokenError if e.transient} == {
        "token_service_unavailable",
        "refresh_lock_timeout",
        "storage_unavailable",
    }
    assert TokenType("user_or_client") is TokenType.USER_OR_CLIENT
