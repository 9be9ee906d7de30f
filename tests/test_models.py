"""The session index's table (django_bff.models.UserSession) takes what a login gives it, on every database."""

from __future__ import annotations

from typing import Any

import pytest

from django_bff.sessions import end_sessions, list_sessions, record_session
from tests.support.request import new_request

pytestmark = pytest.mark.database


@pytest.mark.parametrize("length", [255, 256, 1000])
def test_a_login_whose_provider_session_id_is_long_is_recorded(db: Any, length: int) -> None:
    """OpenID Connect sets no length for ``sid``; the column holds 255 characters (PostgreSQL enforces it)."""
    sid = "s" * length
    request = new_request()
    record_session(request, "alice", sid)  # what the login receiver does
    request.session.save()
    [info] = list_sessions(sub="alice")
    assert info.session_key == request.session.session_key
    assert list_sessions(sid=sid) == [info]
    assert end_sessions(sub="alice", revoke=False) == 1
