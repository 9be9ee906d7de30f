"""The session index's table (django_bff.models.UserSession) takes what a login gives it, on every database."""

from __future__ import annotations

from typing import Any

import pytest

from django_bff.sessions import end_sessions, list_sessions, record_session
from tests.conftest import new_request

pytestmark = pytest.mark.database

LONG_SID_BUG = (
    "UserSession.sid is a varchar(255) and record_session() stores the identity token's sid as it comes "
    "(OpenID Connect sets no length for it): PostgreSQL refuses the row (DataError, so the login's "
    "callback fails with a 500) where SQLite ignores the length"
)
ON_POSTGRES = "config.getoption('postgres')"


@pytest.mark.parametrize(
    "length",
    [
        255,
        pytest.param(256, marks=pytest.mark.xfail(ON_POSTGRES, strict=True, reason=LONG_SID_BUG)),
        pytest.param(1000, marks=pytest.mark.xfail(ON_POSTGRES, strict=True, reason=LONG_SID_BUG)),
    ],
)
def test_a_login_whose_provider_session_id_is_long_is_recorded(db: Any, length: int) -> None:
    request = new_request()
    record_session(request, "alice", "s" * length)  # what the login receiver does
    request.session.save()
    [info] = list_sessions(sub="alice")
    assert info.session_key == request.session.session_key
    assert end_sessions(sub="alice", revoke=False) == 1
