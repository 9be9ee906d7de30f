"""The life of a BFF session: recorded at login, tracked while it slides, ended from anywhere.

In the data flow: the login hand-off (:mod:`django_bff.handoff`) calls
:func:`record_session`, which writes the session's ``sid`` and ``sub``
(:mod:`django_bff.session_keys`) and adds it to the session index
(:mod:`django_bff.session_index`); :class:`django_bff.middleware.SessionMiddleware`
calls :func:`note_session_saved` before each save; the proxy and the token
manager ask :func:`session_login` whether the session proves a login without
loading the user; the logout drops the entry (:func:`forget_session`).
Back-channel logout, ``manage.py bff_sessions`` and the receivers of user
changes end sessions through :func:`end_sessions` and
:func:`end_user_sessions`, which work on the session alone, from outside any
request of its own.

An entry's ``expires`` is an upper bound: when a sliding session is saved past
it, :func:`note_session_saved` moves it forward (by the session's age plus half
of it, so an active session writes the index at most once per half age).
Ending a session revokes its refresh token at the provider
(``BFF["REVOKE_REFRESH_TOKEN_ON_LOGOUT"]``), clears its tokens, deletes it from
the session storage and drops the entry. :func:`cleanup_sessions` (``manage.py
bff_sessions cleanup``) drops the entries of sessions that are gone.

The index's classes and :func:`get_session_index` are importable from here too,
so ``BFF["SESSION_INDEX"]`` may name ``django_bff.sessions.DatabaseSessionIndex``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest

from django_bff.clock import clock
from django_bff.conf import bff_settings
from django_bff.session_index import (
    GRACE,
    CacheSessionIndex,
    DatabaseSessionIndex,
    SessionIndex,
    SessionInfo,
    get_session_index,
)
from django_bff.session_keys import (
    SESSION_EXPIRES_KEY,
    SESSION_INDEXED_KEY,
    SESSION_SID_KEY,
    SESSION_SUB_KEY,
    SESSION_USER_INDEXED_KEY,
)
from django_bff.token_memory import forget_session_tokens

__all__ = [
    "SessionInfo",
    "SessionIndex",
    "DatabaseSessionIndex",
    "CacheSessionIndex",
    "get_session_index",
    "list_sessions",
    "end_sessions",
    "cleanup_sessions",
    "record_session",
    "forget_session",
    "cycle_session_key",
    "note_session_saved",
    "session_expires_at",
    "SESSION_SID_KEY",
    "SESSION_SUB_KEY",
    "SESSION_EXPIRES_KEY",
    "SESSION_INDEXED_KEY",
    "SESSION_USER_INDEXED_KEY",
    "session_login",
    "asession_login",
    "end_user_sessions",
]

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("django.security.django_bff")


def _aware(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def _session_store(session_key: str | None = None) -> SessionBase:
    from django_bff.faults import strict_session_store

    engine = strict_session_store(import_module(settings.SESSION_ENGINE).SessionStore)
    store: SessionBase = engine(session_key)
    return store


def session_expires_at(session: SessionBase) -> float:
    """When ``session`` expires unless it is saved again (epoch seconds)."""
    tracked = session.get(SESSION_EXPIRES_KEY)
    if isinstance(tracked, (int, float)):
        return float(tracked)
    return clock.time() + session.get_expiry_age()


def record_session(request: HttpRequest, sub: str, sid: str, user: str = "") -> None:
    """At login: remember ``sub`` and ``sid`` in the session and add it to the index (with the Django ``user``)."""
    session = request.session
    now = clock.time()
    expires = now + session.get_expiry_age()
    session[SESSION_SID_KEY] = sid
    session[SESSION_SUB_KEY] = sub
    session[SESSION_EXPIRES_KEY] = int(expires)
    key = session.session_key
    if not key:
        # signed_cookies: no server-side session to end later (django_bff.W015).
        logger.debug("session has no server-side key; not indexed")
        return
    get_session_index().save(
        SessionInfo(sub=sub, sid=sid, session_key=key, created=_aware(now), expires=_aware(expires), user=user)
    )
    session[SESSION_INDEXED_KEY] = int(expires)
    if user and get_session_index().finds_users:
        session[SESSION_USER_INDEXED_KEY] = user


def forget_session(request: HttpRequest) -> None:
    """At logout: drop the session's index entry."""
    key = request.session.session_key
    if key and SESSION_SID_KEY in request.session:
        get_session_index().remove(key)


def _login_from_session(values: dict[str, Any]) -> bool | None:
    if values[SESSION_KEY] is None:
        return False
    indexed = values[SESSION_USER_INDEXED_KEY]
    if (
        values[SESSION_SID_KEY] is None
        or values[HASH_SESSION_KEY] is None
        or indexed is None
        or str(indexed) != str(values[SESSION_KEY])
        or values[BACKEND_SESSION_KEY] not in settings.AUTHENTICATION_BACKENDS
        or not get_session_index().finds_users
    ):
        return None
    return True


_LOGIN_KEYS = (SESSION_KEY, SESSION_SID_KEY, HASH_SESSION_KEY, SESSION_USER_INDEXED_KEY, BACKEND_SESSION_KEY)


def session_login(request: HttpRequest) -> bool | None:
    """Whether the request's session holds a login, decided without loading the user; None: load it.

    ``True`` when the session holds a complete Django login (the user's id, a
    configured backend, the session auth hash) that the BFF made (its ``sid``)
    and that the session index knows by user: the user's deactivation,
    deletion or password change then ends the session through the index
    (:func:`end_user_sessions`), which is what replaces loading the user row and
    checking its auth hash on every proxied call (``docs/security.rst``).
    ``False`` when the session holds no login at all. ``None`` otherwise (a
    login of another kind, an index that cannot find by user, a session from
    before the index knew users): the caller asks ``request.user``.
    """
    known = _known_user(request)
    if known is not None:
        return known
    session = request.session
    return _login_from_session({key: session.get(key) for key in _LOGIN_KEYS})


async def asession_login(request: HttpRequest) -> bool | None:
    """Async twin of :func:`session_login`."""
    known = _known_user(request)
    if known is not None:
        return known
    session = request.session
    return _login_from_session({key: await session.aget(key) for key in _LOGIN_KEYS})


def _known_user(request: HttpRequest) -> bool | None:
    """``request.user.is_authenticated`` when the user is already known (loaded, or set by other code), else None.

    AuthenticationMiddleware's ``request.user`` is a lazy object that loads the
    user when first used; anything else there (DRF, a test, a middleware of
    your own) is taken as it is.
    """
    from django.utils.functional import SimpleLazyObject, empty

    for attribute in ("_acached_user", "_cached_user", "user"):
        user = request.__dict__.get(attribute)
        if user is None:
            continue
        if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
            continue
        return bool(user.is_authenticated)
    return None


def end_user_sessions(user: Any) -> int:
    """End every BFF session of the Django ``user`` (an instance or its primary key); how many ended.

    Called when a user is deactivated, deleted or changes password (see
    :mod:`django_bff.receivers`).
    """
    key = str(getattr(user, "pk", user))
    if not get_session_index().finds_users:
        logger.warning("the session index cannot find sessions by user; each request checks the user instead")
        return 0
    return end_sessions(user=key)


def cycle_session_key(request: HttpRequest) -> None:
    """Give the session a new key (a new login in the same session), dropping the old key's index entry."""
    session = request.session
    old = session.session_key
    session.cycle_key()
    if old and old != session.session_key and SESSION_SID_KEY in session:
        get_session_index().remove(old)


def note_session_saved(request: HttpRequest) -> None:
    """Called just before the session is saved: track its expiry, move the index's bound."""
    session = request.session
    sid, sub = session.get(SESSION_SID_KEY), session.get(SESSION_SUB_KEY)
    if not isinstance(sid, str):
        return
    age = session.get_expiry_age()
    expires = clock.time() + age
    session[SESSION_EXPIRES_KEY] = int(expires)
    indexed = session.get(SESSION_INDEXED_KEY)
    key = session.session_key
    if not key or not isinstance(sub, str) or (isinstance(indexed, (int, float)) and expires <= indexed + GRACE):
        return
    until = int(expires + age / 2)
    try:
        get_session_index().save(
            SessionInfo(
                sub=sub,
                sid=sid,
                session_key=key,
                created=_aware(clock.time()),
                expires=_aware(until),
                user=str(session.get(SESSION_KEY, "")),
            )
        )
    except Exception:
        # The response is fine and the session is saved; the next save tries again.
        logger.exception("could not move the session index's bound")
        return
    session[SESSION_INDEXED_KEY] = until


# --- ending sessions -------------------------------------------------------------------------------


def list_sessions(*, sub: str | None = None, sid: str | None = None) -> list[SessionInfo]:
    """Index entries by ``sub`` and/or ``sid`` (every one when both are None, where the index can)."""
    return get_session_index().find(sub=sub, sid=sid)


def _end(info: SessionInfo, revoke: bool) -> None:
    """End one session from outside any request of its own: on the session alone."""
    from django_bff import oauth
    from django_bff.stores import get_token_store

    forget_session_tokens(info.session_key)
    session = _session_store(info.session_key)
    store = get_token_store()
    if revoke:
        try:
            token = store.get_session_token(session)
            if token is not None and token.refresh_token:
                oauth.revoke(token.refresh_token, "refresh_token")
        except Exception:
            logger.exception("could not revoke the refresh token of an ended session")
    try:
        store.clear_session_tokens(session)
    except Exception:
        logger.exception("could not clear the tokens of an ended session")
    session.delete(info.session_key)
    get_session_index().remove(info.session_key)


def end_sessions(
    *, sub: str | None = None, sid: str | None = None, user: str | None = None, revoke: bool | None = None
) -> int:
    """End every session of ``sub``, or the one of ``sid`` (both: sessions matching both), or of the Django ``user``.

    Revokes each session's refresh token (``revoke``, default
    ``BFF["REVOKE_REFRESH_TOKEN_ON_LOGOUT"]``), clears its tokens, deletes it
    from the session storage and from the index. Returns how many were ended.
    """
    if sub is None and sid is None and user is None:
        raise ValueError("end_sessions() needs a sub, a sid or a user")
    if revoke is None:
        revoke = bff_settings.REVOKE_REFRESH_TOKEN_ON_LOGOUT
    found = list_sessions(sub=sub, sid=sid) if user is None else get_session_index().find(sub=sub, sid=sid, user=user)
    for info in found:
        _end(info, revoke)
        security_logger.info("ended session %s (sid %s)", info.key_digest[:12], info.sid)
    return len(found)


def cleanup_sessions() -> int:
    """Drop index entries whose session is gone; move ``expires`` of those still alive. Returns the count dropped."""
    index = get_session_index()
    dropped = 0
    for info in index.expired(clock.now()):
        store = _session_store(info.session_key)
        if SESSION_SID_KEY in store:  # one read: the store keeps what it loaded (a gone session is empty)
            index.save(
                SessionInfo(
                    sub=info.sub,
                    sid=info.sid,
                    session_key=info.session_key,
                    created=info.created,
                    expires=_aware(session_expires_at(store) + store.get_expiry_age() / 2),
                    user=info.user,
                )
            )
        else:
            index.remove(info.session_key)
            dropped += 1
    return dropped
