"""The check of server-side sessions (:mod:`django_bff.checks.sessions`)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    "value",
    ["nope", {"BACKEND": "django_bff.nope.X"}, {"BACKEND": "django_bff.stores.SessionTokenStore"}],
)
def test_E034_bad_session_index(bff: Any, value: Any) -> None:
    assert "django_bff.E034" in bff(SESSION_INDEX=value)


def test_W016_no_authority_for_backchannel_logout(bff: Any) -> None:
    assert "django_bff.W016" in bff(AUTHORITY=None)


def test_W020_no_revocation_endpoint_to_revoke_at(bff: Any) -> None:
    assert "django_bff.W020" in bff(AUTHORITY=None)
    assert "django_bff.W020" not in bff(AUTHORITY=None, REVOCATION_ENDPOINT="https://id.example.com/revoke")
    assert "django_bff.W020" not in bff(AUTHORITY=None, REVOCATION_ENDPOINT=None, REVOKE_REFRESH_TOKEN_ON_LOGOUT=False)
    # With AUTHORITY, discovery may name one: only check --deploy reads it (tests/checks/test_deploy.py).
    assert "django_bff.W020" not in bff(AUTHORITY="https://id.example.com", REVOKE_REFRESH_TOKEN_ON_LOGOUT=True)
    # A bad flag is E006's; the default (on) stands meanwhile, and no traceback.
    assert {"django_bff.E006", "django_bff.W020"} <= set(bff(AUTHORITY=None, REVOKE_REFRESH_TOKEN_ON_LOGOUT="yes"))


def test_W021_no_end_session_endpoint_to_end_the_providers_session(bff: Any) -> None:
    assert "django_bff.W021" in bff(AUTHORITY=None)
    assert "django_bff.W021" not in bff(AUTHORITY="https://id.example.com")
