"""The life of a BFF session (django_bff.sessions): recorded, tracked, ended; ``manage.py bff_sessions``."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from io import StringIO
from typing import Any

import pytest
import responses
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from django_bff import sessions
from django_bff.models import UserSession
from django_bff.sessions import SessionIndex, cleanup_sessions, end_sessions, list_sessions, record_session
from django_bff.stores import get_token_store
from tests.support.request import new_request
from tests.support.sessions import CACHE_INDEX, login_session
from tests.support.sessions import session_exists as exists


def test_login_records_the_session(index: SessionIndex) -> None:
    request = login_session("alice", "s1")
    [info] = list_sessions(sub="alice")
    assert (info.sub, info.sid, info.session_key) == ("alice", "s1", request.session.session_key)
    assert info.created <= datetime.now(tz=timezone.utc) < info.expires
    assert abs((info.expires - info.created).total_seconds() - django_settings.SESSION_COOKIE_AGE) < 5
    assert list_sessions(sid="s1") == [info]
    assert list_sessions(sub="alice", sid="other") == []
    assert list_sessions(sub="bob") == []


def test_sessions_of_one_user_and_of_others(index: SessionIndex) -> None:
    a1, a2, b = login_session("alice", "s1"), login_session("alice", "s2"), login_session("bob", "s3")
    assert {i.sid for i in list_sessions(sub="alice")} == {"s1", "s2"}
    assert end_sessions(sub="alice") == 2
    assert not exists(a1) and not exists(a2) and exists(b)
    assert list_sessions(sub="alice") == [] and [i.sid for i in list_sessions(sub="bob")] == ["s3"]


def test_end_by_sid_ends_only_that_session(index: SessionIndex) -> None:
    a1, a2 = login_session("alice", "s1"), login_session("alice", "s2")
    assert end_sessions(sid="s2") == 1
    assert exists(a1) and not exists(a2)
    assert end_sessions(sid="s2") == 0
    assert end_sessions(sub="bob", sid="s1") == 0 and exists(a1)


def test_end_sessions_needs_a_filter(db: Any) -> None:
    with pytest.raises(ValueError, match="a sub, a sid or a user"):
        end_sessions()


@responses.activate
def test_ending_revokes_and_clears_the_tokens(index: SessionIndex, settings: Any, leak_guard: Any) -> None:
    endpoint = "http://127.0.0.1:9/token/revocation"
    settings.BFF = {**settings.BFF, "REVOCATION_ENDPOINT": endpoint}
    revoke = responses.post(endpoint, status=200)
    request = login_session("alice", "s1", tokens=True)
    leak_guard.add("at-s1", "rt-s1")
    ref_request = new_request(session_key=request.session.session_key)
    assert get_token_store().get_token(ref_request) is not None
    assert end_sessions(sub="alice") == 1
    assert revoke.call_count == 1 and "token=rt-s1" in revoke.calls[0].request.body
    assert get_token_store().get_token(ref_request) is None
    assert not exists(request)


@pytest.mark.database
@responses.activate
def test_revocation_can_be_turned_off(db: Any, settings: Any, leak_guard: Any) -> None:
    settings.BFF = {**settings.BFF, "REVOKE_REFRESH_TOKEN_ON_LOGOUT": False}
    leak_guard.add("at-s1", "rt-s1")
    request = login_session("alice", "s1", tokens=True)
    assert end_sessions(sid="s1") == 1  # no revocation call: responses would refuse it
    assert not exists(request)


@pytest.mark.database
def test_ending_survives_a_failing_revocation(db: Any, settings: Any, leak_guard: Any) -> None:
    # Nothing listens on port 9: the revocation fails, the session still ends.
    settings.BFF = {**settings.BFF, "REVOCATION_ENDPOINT": "http://127.0.0.1:9/revoke"}
    leak_guard.add("at-s1", "rt-s1")
    request = login_session("alice", "s1", tokens=True)
    assert end_sessions(sid="s1") == 1 and not exists(request)


def test_a_session_already_gone_is_ended_quietly(index: SessionIndex) -> None:
    request = login_session("alice", "s1")
    request.session.delete()
    assert end_sessions(sub="alice") == 1
    assert list_sessions(sub="alice") == []


def test_logout_drops_the_entry(index: SessionIndex, user: Any) -> None:
    from django.contrib.auth import logout

    request = login_session("alice", "s1")
    request.user = user
    logout(request)
    assert list_sessions(sub="alice") == []


@pytest.mark.database
def test_cleanup_drops_ended_sessions_and_keeps_live_ones(db: Any) -> None:
    gone, alive = login_session("alice", "s1"), login_session("alice", "s2")
    gone.session.delete()
    UserSession.objects.update(expires=datetime.now(tz=timezone.utc) - timedelta(seconds=1))
    assert cleanup_sessions() == 1
    [info] = list_sessions(sub="alice")
    assert info.sid == "s2" and info.expires > datetime.now(tz=timezone.utc)
    assert exists(alive)


def test_cleanup_with_the_cache_index_is_a_no_op(settings: Any, redis_cache: Any, db: Any) -> None:
    settings.BFF = {**settings.BFF, "SESSION_INDEX": CACHE_INDEX}
    login_session("alice", "s1")
    assert cleanup_sessions() == 0 and len(list_sessions(sub="alice")) == 1


def test_signed_cookie_sessions_are_not_indexed(db: Any, settings: Any) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    request = new_request()
    record_session(request, "alice", "s1")
    assert request.session["_bff_sid"] == "s1" and not UserSession.objects.exists()


# --- the middleware's bookkeeping ---------------------------------------------------------------


@pytest.mark.database
def test_a_sliding_save_moves_the_index_bound_at_most_once_per_half_age(db: Any, settings: Any) -> None:
    settings.SESSION_COOKIE_AGE = 1000
    request = login_session("alice", "s1")
    [before] = list_sessions(sub="alice")
    sessions.note_session_saved(request)  # just saved: still inside the indexed bound
    assert list_sessions(sub="alice") == [before]
    request.session[sessions.SESSION_INDEXED_KEY] = int(time.time()) - 100  # as if the session slid past it
    sessions.note_session_saved(request)
    [after] = list_sessions(sub="alice")
    assert 1490 <= (after.expires - datetime.now(tz=timezone.utc)).total_seconds() <= 1500
    assert after.created == before.created
    assert request.session[sessions.SESSION_EXPIRES_KEY] == pytest.approx(time.time() + 1000, abs=2)


@pytest.mark.database
def test_sessions_without_a_bff_login_are_left_alone(db: Any) -> None:
    request = new_request()
    sessions.note_session_saved(request)
    assert sessions.SESSION_EXPIRES_KEY not in request.session and not UserSession.objects.exists()


# --- manage.py bff_sessions ------------------------------------------------------------------------


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("bff_sessions", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.database
def test_command_list(db: Any) -> None:
    a, b = login_session("alice", "s1"), login_session("bob", "s2")
    out, err = run("list")
    assert "alice  sid=s1" in out and "bob  sid=s2" in out and err.strip() == "2 session(s)"
    assert a.session.session_key not in out and b.session.session_key not in out
    out, _ = run("list", "--sub", "bob", "--json")
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["sid"] == "s2" and set(row) == {"sub", "sid", "user", "session", "created", "expires"}


def test_command_list_needs_a_filter_with_the_cache_index(settings: Any, redis_cache: Any) -> None:
    settings.BFF = {**settings.BFF, "SESSION_INDEX": CACHE_INDEX}
    with pytest.raises(CommandError, match="--sub or --sid"):
        run("list")


@pytest.mark.database
def test_command_revoke(db: Any) -> None:
    a, b = login_session("alice", "s1"), login_session("bob", "s2")
    assert run("revoke", "--sub", "alice", "--no-revoke-tokens")[0].strip() == "Revoked 1 session(s)."
    assert not exists(a) and exists(b)
    assert run("revoke", "--sid", "s2")[0].strip() == "Revoked 1 session(s)."
    with pytest.raises(CommandError, match="--sub or --sid"):
        run("revoke")


@pytest.mark.database
def test_command_cleanup(db: Any) -> None:
    login_session("alice", "s1").session.delete()
    UserSession.objects.update(expires=datetime.now(tz=timezone.utc) - timedelta(seconds=1))
    assert run("cleanup")[0].strip() == "Dropped 1 index entries of ended sessions."


def test_the_middleware_leaves_requests_without_a_session_alone(db: Any) -> None:
    from django.http import HttpResponse
    from django.test import RequestFactory

    from django_bff.middleware import SessionMiddleware

    response = HttpResponse()
    assert SessionMiddleware(lambda r: response).process_response(RequestFactory().get("/"), response) is response


def test_an_unread_session_left_unsaved_gets_no_vary(db: Any, settings: Any) -> None:
    from django.http import HttpResponse
    from django.test import RequestFactory

    from django_bff.middleware import SessionMiddleware, dont_slide

    settings.SESSION_SAVE_EVERY_REQUEST = True

    def view(request: Any) -> HttpResponse:
        dont_slide(request)
        return HttpResponse()

    response = SessionMiddleware(view)(RequestFactory().get("/"))
    assert not response.has_header("Vary") and not response.cookies


def test_an_index_failure_while_sliding_is_logged_not_raised(db: Any, settings: Any, leak_guard: Any) -> None:
    request = login_session("alice", "s1")
    request.session[sessions.SESSION_INDEXED_KEY] = int(time.time()) - 100
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    settings.BFF = {**settings.BFF, "SESSION_INDEX": CACHE_INDEX}
    sessions.note_session_saved(request)  # Redis is down
    assert request.session[sessions.SESSION_INDEXED_KEY] < time.time()  # so the next save tries again
    assert any("index's bound" in r.getMessage() for r in leak_guard.records if r.levelname == "ERROR")
