"""The server-side session index: who is logged in where, so sessions can be ended from outside.

Every BFF login records one entry, a :class:`SessionInfo`: the user's ``sub``,
the provider's session id ``sid`` (the identity token's ``sid`` claim, or one of
our own), the Django session key, when it was created and the latest time it can
expire. Back-channel logout (``/bff/backchannel``), :func:`end_sessions` and
``manage.py bff_sessions revoke`` look sessions up here by ``sub`` or ``sid``
and end them in the session storage that every server shares, so a session ends
wherever its next request lands.

Choose where the index lives with ``BFF["SESSION_INDEX"]``::

    BFF = {"SESSION_INDEX": {"BACKEND": "django_bff.sessions.DatabaseSessionIndex", "OPTIONS": {}}}

:class:`DatabaseSessionIndex` (the default) keeps a table (run ``migrate``) and
can list every session; :class:`CacheSessionIndex` keeps entries in a Django
cache (Redis in production) and finds them by ``sub`` or ``sid`` only. Session
keys are bearer credentials: both keep them encrypted and show only a digest.

An entry's ``expires`` is an upper bound: when a sliding session is saved past
it, :class:`django_bff.middleware.SessionMiddleware` moves it forward (by the
session's age plus half of it, so an active session writes the index at most
once per half age). Ending a session revokes its refresh token at the provider
(``BFF["REVOKE_REFRESH_TOKEN_ON_LOGOUT"]``), clears its tokens, deletes it from
the session storage and drops the entry. :func:`cleanup_sessions` (``manage.py
bff_sessions cleanup``) drops the entries of sessions that are gone.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import BaseCache, caches
from django.http import HttpRequest

from django_bff import crypto
from django_bff.conf import bff_settings, load_backend, on_reload
from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.locks import CacheLock

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
]

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("django.security.django_bff")

#: The session's id for /bff/logout?sid= and back-channel logout (written at login).
SESSION_SID_KEY = "_bff_sid"
#: The user's subject at the provider (written at login).
SESSION_SUB_KEY = "_bff_sub"
#: When the session expires unless saved again (epoch seconds; kept by the middleware).
SESSION_EXPIRES_KEY = "_bff_expires_at"
#: The ``expires`` last written to the index for this session (epoch seconds).
SESSION_INDEXED_KEY = "_bff_indexed_until"
#: Seconds an index entry outlives its ``expires`` (clock steps, a session that slid a moment ago).
GRACE = 60


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _aware(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


@dataclass(frozen=True)
class SessionInfo:
    """One entry of the index. ``session_key`` is a credential: it is left out of ``repr``."""

    sub: str
    sid: str
    session_key: str = field(repr=False)
    created: datetime
    expires: datetime

    @property
    def key_digest(self) -> str:
        """SHA-256 of the session key: safe to show, enough to tell sessions apart."""
        return _digest(self.session_key)

    def to_dict(self) -> dict[str, Any]:
        """What listings show (no session key)."""
        return {
            "sub": self.sub,
            "sid": self.sid,
            "session": self.key_digest[:16],
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat(),
        }


class SessionIndex:
    """Base class of session indexes. Name yours in ``BFF["SESSION_INDEX"]``.

    Subclasses must implement :meth:`save`, :meth:`remove` and :meth:`find`.
    :meth:`find` with neither ``sub`` nor ``sid`` lists every session and may
    raise ``NotImplementedError`` where the storage cannot enumerate;
    :meth:`expired` may return an empty list when the storage expires entries
    by itself.
    """

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"{type(self).__name__} got unknown OPTIONS: {', '.join(sorted(options))}")

    def save(self, info: SessionInfo) -> None:
        """Add ``info``, or update the entry of the same session key (keeping its ``created``)."""
        raise NotImplementedError("subclasses of SessionIndex must provide a save() method")

    def remove(self, session_key: str) -> None:
        """Forget the entry of ``session_key`` (no error when there is none)."""
        raise NotImplementedError("subclasses of SessionIndex must provide a remove() method")

    def find(self, *, sub: str | None = None, sid: str | None = None) -> list[SessionInfo]:
        """The entries matching ``sub`` and/or ``sid``; every entry when both are None."""
        raise NotImplementedError("subclasses of SessionIndex must provide a find() method")

    def expired(self, now: datetime) -> list[SessionInfo]:
        """Entries whose ``expires`` has passed."""
        return []


def _decrypt_key(value: str) -> str | None:
    try:
        return crypto.decrypt(value).decode()
    except crypto.InvalidToken:
        logger.warning("a session index entry cannot be decrypted (were the encryption keys rotated?)")
        return None


def _column(value: str) -> str:
    """``value`` as the index's 255-character columns keep it: a longer ``sid`` or ``sub`` by its digest.

    OpenID Connect limits ``sub`` to 255 characters and says nothing of ``sid``;
    PostgreSQL refuses a longer value where SQLite keeps it. Lookups apply the
    same function, so a long value still finds its sessions.
    """
    return value if len(value) <= 255 else "sha256:" + _digest(value)


class DatabaseSessionIndex(SessionIndex):
    """The index in the database table ``django_bff_usersession`` (run ``migrate``).

    A ``sid`` or ``sub`` longer than 255 characters is kept (and shown) as
    ``sha256:`` and its digest.
    """

    def _model(self) -> Any:
        from django_bff.models import UserSession

        return UserSession

    def _info(self, row: Any) -> SessionInfo | None:
        key = _decrypt_key(row.session_key)
        if key is None:
            return None
        return SessionInfo(sub=row.sub, sid=row.sid, session_key=key, created=row.created, expires=row.expires)

    def save(self, info: SessionInfo) -> None:
        self._model().objects.update_or_create(
            key_digest=info.key_digest,
            defaults={
                "sub": _column(info.sub),
                "sid": _column(info.sid),
                "session_key": crypto.encrypt(info.session_key.encode()),
                "expires": info.expires,
            },
            create_defaults={
                "sub": _column(info.sub),
                "sid": _column(info.sid),
                "session_key": crypto.encrypt(info.session_key.encode()),
                "created": info.created,
                "expires": info.expires,
            },
        )

    def remove(self, session_key: str) -> None:
        self._model().objects.filter(key_digest=_digest(session_key)).delete()

    def find(self, *, sub: str | None = None, sid: str | None = None) -> list[SessionInfo]:
        rows = self._model().objects.all()
        if sub is not None:
            rows = rows.filter(sub=_column(sub))
        if sid is not None:
            rows = rows.filter(sid=_column(sid))
        return [info for info in map(self._info, rows) if info is not None]

    def expired(self, now: datetime) -> list[SessionInfo]:
        rows = self._model().objects.filter(expires__lt=now)
        found = []
        for row in rows:
            info = self._info(row)
            if info is None:
                row.delete()  # unreadable: its session cannot be ended through the index anyway
            else:
                found.append(info)
        return found


class CacheSessionIndex(SessionIndex):
    """The index in a Django cache: one entry per ``sub`` holding that user's sessions.

    Finds by ``sub`` or ``sid``, not every session. Entries expire with the
    cache (their timeout is the latest ``expires`` plus a minute's grace). The cache must be shared by
    every server and must not evict keys early (Redis: ``maxmemory-policy
    noeviction`` or a ``volatile-*`` policy with enough memory).
    ``OPTIONS``: ``CACHE`` (default ``BFF["CACHE"]``), ``KEY_PREFIX``.
    """

    def __init__(self, *, CACHE: str | None = None, KEY_PREFIX: str = "bff:sessions:", **options: Any) -> None:  # noqa: N803
        super().__init__(**options)
        self.alias = CACHE
        self.prefix = KEY_PREFIX

    @property
    def cache(self) -> BaseCache:
        return caches[self.alias or bff_settings.CACHE]

    def _sub_key(self, sub: str) -> str:
        return f"{self.prefix}sub:{_digest(sub)}"

    def _pointer_key(self, kind: str, value: str) -> str:
        return f"{self.prefix}{kind}:{_digest(value)}"

    def _entries(self, sub: str) -> dict[str, dict[str, Any]]:
        value = self.cache.get(self._sub_key(sub))
        return value if isinstance(value, dict) else {}

    def _update(self, sub: str, change: Any) -> None:
        """Apply ``change(entries)`` to ``sub``'s entries under a lock, dropping expired ones."""
        lock = CacheLock(self.cache, self._pointer_key("lock", sub), timeout=10)
        deadline = time.monotonic() + 10
        while not lock.acquire():
            if time.monotonic() > deadline:
                raise TimeoutError("the session index entry stayed locked")
            time.sleep(0.02)
        try:
            now = time.time()
            entries = {d: e for d, e in self._entries(sub).items() if e["expires"] + GRACE > now}
            change(entries)
            if entries:
                timeout = max(1, int(max(e["expires"] for e in entries.values()) - now) + GRACE)
                self.cache.set(self._sub_key(sub), entries, timeout)
            else:
                self.cache.delete(self._sub_key(sub))
        finally:
            lock.release()

    def save(self, info: SessionInfo) -> None:
        digest = info.key_digest
        expires = info.expires.timestamp()

        def change(entries: dict[str, dict[str, Any]]) -> None:
            created = entries.get(digest, {}).get("created", info.created.timestamp())
            entries[digest] = {
                "sid": info.sid,
                "key": crypto.encrypt(info.session_key.encode()),
                "created": created,
                "expires": expires,
            }

        self._update(info.sub, change)
        timeout = max(1, int(expires - time.time()) + GRACE)
        self.cache.set(self._pointer_key("sid", info.sid), info.sub, timeout)
        self.cache.set(self._pointer_key("key", digest), info.sub, timeout)

    def remove(self, session_key: str) -> None:
        digest = _digest(session_key)
        sub = self.cache.get(self._pointer_key("key", digest))
        if isinstance(sub, str):
            self._update(sub, lambda entries: entries.pop(digest, None))
        self.cache.delete(self._pointer_key("key", digest))

    def find(self, *, sub: str | None = None, sid: str | None = None) -> list[SessionInfo]:
        if sub is None and sid is None:
            raise NotImplementedError("CacheSessionIndex finds sessions by sub or sid only")
        if sub is None:
            pointed = self.cache.get(self._pointer_key("sid", str(sid)))
            if not isinstance(pointed, str):
                return []
            sub = pointed
        now = time.time()
        found = []
        for entry in self._entries(sub).values():
            if entry["expires"] + GRACE <= now or (sid is not None and entry["sid"] != sid):
                continue
            key = _decrypt_key(entry["key"])
            if key is not None:
                found.append(
                    SessionInfo(
                        sub=sub,
                        sid=entry["sid"],
                        session_key=key,
                        created=_aware(entry["created"]),
                        expires=_aware(entry["expires"]),
                    )
                )
        return sorted(found, key=lambda info: info.created)


@functools.lru_cache(maxsize=1)
def get_session_index() -> SessionIndex:
    """The index configured by ``BFF["SESSION_INDEX"]`` (made once per settings)."""
    return load_backend("SESSION_INDEX", SessionIndex, BFFImproperlyConfigured)


on_reload(get_session_index.cache_clear)


# --- the session side -----------------------------------------------------------------------------


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
    return time.time() + session.get_expiry_age()


def record_session(request: HttpRequest, sub: str, sid: str) -> None:
    """At login: remember ``sub`` and ``sid`` in the session and add it to the index."""
    session = request.session
    now = time.time()
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
        SessionInfo(sub=sub, sid=sid, session_key=key, created=_aware(now), expires=_aware(expires))
    )
    session[SESSION_INDEXED_KEY] = int(expires)


def forget_session(request: HttpRequest) -> None:
    """At logout: drop the session's index entry."""
    key = request.session.session_key
    if key and SESSION_SID_KEY in request.session:
        get_session_index().remove(key)


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
    expires = time.time() + age
    session[SESSION_EXPIRES_KEY] = int(expires)
    indexed = session.get(SESSION_INDEXED_KEY)
    key = session.session_key
    if not key or not isinstance(sub, str) or (isinstance(indexed, (int, float)) and expires <= indexed + GRACE):
        return
    until = int(expires + age / 2)
    try:
        get_session_index().save(
            SessionInfo(sub=sub, sid=sid, session_key=key, created=_aware(time.time()), expires=_aware(until))
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
    from django_bff.stores import get_token_store
    from django_bff.token_manager import revoke_refresh_token

    store = _session_store(info.session_key)
    request = HttpRequest()
    request.session = store
    request.user = AnonymousUser()
    if revoke:
        try:
            revoke_refresh_token(request)
        except Exception:
            logger.exception("could not revoke the refresh token of an ended session")
    try:
        get_token_store().clear_token(request)
    except Exception:
        logger.exception("could not clear the tokens of an ended session")
    store.delete(info.session_key)
    get_session_index().remove(info.session_key)


def end_sessions(*, sub: str | None = None, sid: str | None = None, revoke: bool | None = None) -> int:
    """End every session of ``sub``, or the one of ``sid`` (both: sessions matching both).

    Revokes each session's refresh token (``revoke``, default
    ``BFF["REVOKE_REFRESH_TOKEN_ON_LOGOUT"]``), clears its tokens, deletes it
    from the session storage and from the index. Returns how many were ended.
    """
    if sub is None and sid is None:
        raise ValueError("end_sessions() needs a sub or a sid")
    if revoke is None:
        revoke = bool(bff_settings.REVOKE_REFRESH_TOKEN_ON_LOGOUT)
    found = list_sessions(sub=sub, sid=sid)
    for info in found:
        _end(info, revoke)
        security_logger.info("ended session %s (sid %s)", info.key_digest[:12], info.sid)
    return len(found)


def cleanup_sessions() -> int:
    """Drop index entries whose session is gone; move ``expires`` of those still alive. Returns the count dropped."""
    index = get_session_index()
    dropped = 0
    for info in index.expired(datetime.now(tz=timezone.utc)):
        store = _session_store(info.session_key)
        if SESSION_SID_KEY in store:  # one read: the store keeps what it loaded (a gone session is empty)
            index.save(
                SessionInfo(
                    sub=info.sub,
                    sid=info.sid,
                    session_key=info.session_key,
                    created=info.created,
                    expires=_aware(session_expires_at(store) + store.get_expiry_age() / 2),
                )
            )
        else:
            index.remove(info.session_key)
            dropped += 1
    return dropped
