"""The session index (django_bff.session_index): its backends, their entries, the setting that names one."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from django_bff import session_index, sessions
from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.models import UserSession
from django_bff.sessions import (
    CacheSessionIndex,
    DatabaseSessionIndex,
    SessionIndex,
    SessionInfo,
    cleanup_sessions,
    get_session_index,
    list_sessions,
)
from tests.support.sessions import CACHE_INDEX, login_session


def test_the_default_index_is_the_database(db: Any) -> None:
    assert type(get_session_index()) is DatabaseSessionIndex


def test_the_session_key_is_never_shown(index: SessionIndex) -> None:
    request = login_session("alice", "s1")
    key = request.session.session_key
    [info] = list_sessions(sub="alice")
    assert key not in repr(info) and key not in json.dumps(info.to_dict())
    assert info.to_dict()["session"] == info.key_digest[:16]
    if isinstance(index, DatabaseSessionIndex):
        row = UserSession.objects.get()
        assert key not in row.session_key and key not in str(row)


def test_save_keeps_created_and_moves_expires(index: SessionIndex) -> None:
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    later = datetime.now(tz=timezone.utc) + timedelta(hours=1)
    index.save(SessionInfo("alice", "s1", "k" * 32, created, later))
    index.save(SessionInfo("alice", "s1", "k" * 32, datetime.now(tz=timezone.utc), later + timedelta(hours=1)))
    [info] = index.find(sub="alice")
    assert info.created == created and info.expires == later + timedelta(hours=1)


def test_the_cache_index_cannot_list_everything(settings: Any, redis_cache: Any) -> None:
    settings.BFF = {**settings.BFF, "SESSION_INDEX": CACHE_INDEX}
    with pytest.raises(NotImplementedError):
        list_sessions()


@pytest.mark.database
def test_the_database_index_lists_everything(db: Any) -> None:
    login_session("alice", "s1"), login_session("bob", "s2")
    assert [i.sub for i in list_sessions()] == ["alice", "bob"]


def test_the_cache_index_entries_expire_with_the_cache(settings: Any, redis_cache: Any) -> None:
    settings.BFF = {**settings.BFF, "SESSION_INDEX": CACHE_INDEX}
    index = get_session_index()
    now = datetime.now(tz=timezone.utc)
    index.save(SessionInfo("alice", "old", "a" * 32, now - timedelta(hours=2), now - timedelta(seconds=59)))
    index.save(SessionInfo("alice", "new", "b" * 32, now, now + timedelta(hours=1)))
    time.sleep(1.2)  # past the minute of grace
    assert [i.sid for i in index.find(sub="alice")] == ["new"]
    index.remove("b" * 32)
    assert index.find(sub="alice") == [] and index.find(sid="new") == []
    index.remove("never-indexed")


@pytest.mark.database
def test_an_entry_that_cannot_be_decrypted_is_skipped(db: Any, settings: Any, caplog: Any) -> None:
    login_session("alice", "s1")
    UserSession.objects.update(session_key="not-a-fernet-token", expires=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert list_sessions(sub="alice") == []
    assert "cannot be decrypted" in caplog.text
    assert cleanup_sessions() == 0 and not UserSession.objects.exists()


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ("nope", "must be a dict"),
        ({"BACKEND": "django_bff.nope.Index"}, "Could not import"),
        ({"BACKEND": "django_bff.stores.SessionTokenStore"}, "not a subclass"),
        ({"BACKEND": "django_bff.sessions.DatabaseSessionIndex", "OPTIONS": {"X": 1}}, "OPTIONS"),
    ],
)
def test_a_bad_index_setting_is_reported(settings: Any, config: Any, match: str) -> None:
    settings.BFF = {**settings.BFF, "SESSION_INDEX": config}
    with pytest.raises(BFFImproperlyConfigured, match=match):
        get_session_index()


def test_the_base_class_names_what_to_implement() -> None:
    index = SessionIndex()
    info = SessionInfo("a", "s", "k", datetime.now(tz=timezone.utc), datetime.now(tz=timezone.utc))
    for call in (lambda: index.save(info), lambda: index.remove("k"), lambda: index.find(sub="a")):
        with pytest.raises(NotImplementedError, match="subclasses of SessionIndex must provide"):
            call()
    assert index.expired(datetime.now(tz=timezone.utc)) == []
    assert CacheSessionIndex(CACHE="default", KEY_PREFIX="x:").prefix == "x:"


@pytest.mark.parametrize("home", ["django_bff.sessions", "django_bff.session_index"])
@pytest.mark.parametrize("name", ["DatabaseSessionIndex", "CacheSessionIndex"])
def test_the_backend_paths_of_both_homes_name_the_same_class(db: Any, settings: Any, home: str, name: str) -> None:
    settings.BFF = {**settings.BFF, "SESSION_INDEX": {"BACKEND": f"{home}.{name}", "OPTIONS": {}}}
    assert type(get_session_index()) is getattr(session_index, name) is getattr(sessions, name)
