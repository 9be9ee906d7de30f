"""Logout tokens refused for their claims, and replays refused by the ``jti`` cache.

The checks every refusal passes are in ``tests/support/logout_tokens.py`` (``assert_refused``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import responses
from django.test import Client

from django_bff.exceptions import InvalidLogoutToken
from django_bff.logout_tokens import (
    BACKCHANNEL_LOGOUT_EVENT,
    forget_jti,
    remember_jti,
    validate_logout_token,
)
from tests.support.logout_tokens import (
    MISSING,
    TokenFactory,
    assert_accepted,
    assert_refused,
    logout_claims,
    post_form,
)

pytestmark = pytest.mark.django_db


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
