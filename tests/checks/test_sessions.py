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
