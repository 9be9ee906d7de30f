"""Back-channel logout ends the matching sessions, revokes their refresh tokens, and fails safely.

The checks every refusal passes are in ``tests/support/logout_tokens.py`` (``assert_refused``).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import Client

from django_bff.sessions import SESSION_SID_KEY, SESSION_SUB_KEY, list_sessions, record_session
from django_bff.stores import get_token_store
from django_bff.tokens import UserToken
from django_bff.views import backchannel as backchannel_view
from tests.support.logout_tokens import (
    MISSING,
    TokenFactory,
    other_calls,
    post_form,
)

pytestmark = pytest.mark.django_db


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

    monkeypatch.setattr(backchannel_view, "end_sessions", boom)
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
    sessions: dict[str, str],
    client: Client,
    provider: responses.RequestsMock,
    make_token: TokenFactory,
    settings: Any,
    dead_cache: str,
) -> None:
    settings.BFF = {**settings.BFF, "CACHE": dead_cache}
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

    monkeypatch.setattr(backchannel_view, "end_sessions", down)
    token = make_token(sid="s1", sub=MISSING)
    response = post_form(client, token)
    assert response.status_code == 503 and response.json() == {"error": "storage_unavailable"}
    monkeypatch.undo()
    assert post_form(client, token).status_code == 200  # the provider's retry is accepted
    assert SessionStore().exists(sessions["s1"]) is False
