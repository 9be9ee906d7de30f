"""Logged-in sessions for tests: one made in the store directly, or the one a test client holds."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from django_bff.sessions import DatabaseSessionIndex, record_session
from django_bff.stores import get_token_store
from django_bff.testing import UserTokenStoreContract
from django_bff.tokens import UserToken
from tests.support.request import new_request

#: BFF["SESSION_INDEX"] for the cache index.
CACHE_INDEX = {"BACKEND": "django_bff.sessions.CacheSessionIndex", "OPTIONS": {}}


def login_session(sub: str, sid: str, *, tokens: bool = False) -> HttpRequest:
    """A saved server-side session recorded in the index, as a BFF login leaves it."""
    request = new_request()
    record_session(request, sub, sid)
    if tokens:
        token = UserToken(
            access_token=f"at-{sid}",
            refresh_token=f"rt-{sid}",
            expires_at=datetime.now(tz=timezone.utc) + timedelta(minutes=5),
        )
        get_token_store().store_token(request, token)
    request.session.save()
    return request


def session_exists(request: HttpRequest) -> bool:
    """Whether the session ``request`` holds is still in the session storage."""
    engine = import_module(settings.SESSION_ENGINE)
    return bool(engine.SessionStore().exists(request.session.session_key))


class LoggedIn:
    """A session holding ``token`` for ``user``; each :meth:`request` is a new request in it."""

    def __init__(self, user: Any, token: Any) -> None:
        self.contract = UserTokenStoreContract()
        self.user = user
        self.token = token
        first = self.contract.new_request(user=user)
        get_token_store().store_token(first, token)
        self.key = self.contract.finish_request(first)

    def request(self) -> HttpRequest:
        return self.contract.new_request(self.key, self.user)

    def stored(self) -> Any:
        return get_token_store().get_token(self.request())


def session_request(client: Any) -> HttpRequest:
    """A request in the session a test client holds (after a real login)."""
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    return UserTokenStoreContract().new_request(client.cookies[settings.SESSION_COOKIE_NAME].value, user)


def expire(client: Any) -> Any:
    """Make the client's stored access token look expired (the refresh token stays real); returns it."""
    request = session_request(client)
    store = get_token_store()
    token = store.get_token(request)
    past = datetime.now(timezone.utc) - timedelta(minutes=5)
    store.store_token(request, dataclasses.replace(token, expires_at=past))
    request.session.save()
    return token


def logged_in_session(client: Any, user: Any, token: Any, *, sub: str = "alice", sid: str = "sid-1") -> HttpRequest:
    """What a BFF login leaves in the session ``client`` holds: Django's login, the index entry, the tokens."""
    client.force_login(user, backend="django_bff.auth.BFFAuthenticationBackend")
    request = UserTokenStoreContract().new_request(client.cookies[settings.SESSION_COOKIE_NAME].value, user)
    record_session(request, sub, sid, user=str(user.pk))
    get_token_store().store_token(request, token)
    request.session.save()
    return request


class IndexWithoutUsers(DatabaseSessionIndex):
    """A session index of a project's own that cannot find sessions by user (built on the database one)."""

    finds_users = False
