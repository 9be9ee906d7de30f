"""The session index: who is logged in where, so sessions can be ended from outside a request.

In the data flow: below the session lifecycle (:mod:`django_bff.sessions`),
beside the stores; it reads only the settings, the encryption and its table.

Every BFF login records one entry, a :class:`SessionInfo`: the user's ``sub``,
the provider's session id ``sid`` (the identity token's ``sid`` claim, or one of
our own), the Django session key, when it was created and the latest time it can
expire. Back-channel logout (``/bff/backchannel``),
:func:`~django_bff.sessions.end_sessions` and ``manage.py bff_sessions revoke``
look sessions up here by ``sub``, ``sid`` or Django user and end them in the
session storage that every server shares, so a session ends wherever its next
request lands. This module is the storage of those entries; the session's life
(recording it at login, moving its bound, ending it) is
:mod:`django_bff.sessions`, which also exports every name of this module.

Choose where the index lives with ``BFF["SESSION_INDEX"]`` (the dotted paths
``django_bff.sessions.DatabaseSessionIndex`` and
``django_bff.sessions.CacheSessionIndex`` name the same classes)::

    BFF = {
        "SESSION_INDEX": {
            "BACKEND": "django_bff.session_index.DatabaseSessionIndex",
            "OPTIONS": {},
        }
    }

:class:`DatabaseSessionIndex` (the default) keeps a table (run ``migrate``) and
can list every session; :class:`CacheSessionIndex` keeps entries in a Django
cache (Redis in production) and finds them by ``sub``, ``sid`` or user only.
Session keys are bearer credentials: both keep them encrypted and show only a
digest.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from django.core.cache import BaseCache, caches

from django_bff import crypto
from django_bff.clock import clock
from django_bff.conf import bff_settings, load_backend, per_settings
from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.locks import CacheLock, Polling, Waited

__all__ = [
    "SessionInfo",
    "SessionIndex",
    "DatabaseSessionIndex",
    "CacheSessionIndex",
    "get_session_index",
    "GRACE",
]

logger = logging.getLogger(__name__)

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
    #: The Django user's primary key, as a string ("" when unknown: an entry written before it was kept).
    user: str = ""

    @property
    def key_digest(self) -> str:
        """SHA-256 of the session key: safe to show, enough to tell sessions apart."""
        return _digest(self.session_key)

    def to_dict(self) -> dict[str, Any]:
        """What listings show (no session key)."""
        return {
            "sub": self.sub,
            "sid": self.sid,
            "user": self.user,
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

    An index that finds sessions by Django user (``find(user=...)``) sets
    :attr:`finds_users`: the user's sessions then end when the user is
    deactivated, deleted or changes password, and the proxy need not load the
    user on every call (see :func:`session_login`).
    """

    #: Whether :meth:`find` takes ``user`` (the Django user's primary key as a string).
    finds_users = False

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"{type(self).__name__} got unknown OPTIONS: {', '.join(sorted(options))}")

    def save(self, info: SessionInfo) -> None:
        """Add ``info``, or update the entry of the same session key (keeping its ``created``)."""
        raise NotImplementedError("subclasses of SessionIndex must provide a save() method")

    def remove(self, session_key: str) -> None:
        """Forget the entry of ``session_key`` (no error when there is none)."""
        raise NotImplementedError("subclasses of SessionIndex must provide a remove() method")

    def find(self, *, sub: str | None = None, sid: str | None = None, user: str | None = None) -> list[SessionInfo]:
        """The entries matching ``sub``, ``sid`` and ``user`` (those given); every entry when none is."""
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

    finds_users = True

    def _model(self) -> Any:
        from django_bff.models import UserSession

        return UserSession

    def _info(self, row: Any) -> SessionInfo | None:
        key = _decrypt_key(row.session_key)
        if key is None:
            return None
        return SessionInfo(
            sub=row.sub, sid=row.sid, session_key=key, created=row.created, expires=row.expires, user=row.user
        )

    def save(self, info: SessionInfo) -> None:
        values = {
            "sub": _column(info.sub),
            "sid": _column(info.sid),
            "user": _column(info.user),
            "session_key": crypto.encrypt(info.session_key.encode()),
            "expires": info.expires,
        }
        self._model().objects.update_or_create(
            key_digest=info.key_digest,
            defaults=values,
            create_defaults={**values, "created": info.created},
        )

    def remove(self, session_key: str) -> None:
        self._model().objects.filter(key_digest=_digest(session_key)).delete()

    def find(self, *, sub: str | None = None, sid: str | None = None, user: str | None = None) -> list[SessionInfo]:
        rows = self._model().objects.all()
        if sub is not None:
            rows = rows.filter(sub=_column(sub))
        if sid is not None:
            rows = rows.filter(sid=_column(sid))
        if user is not None:
            rows = rows.filter(user=_column(user))
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

    Finds by ``sub``, ``sid`` or Django user, not every session. Entries expire with the
    cache (their timeout is the latest ``expires`` plus a minute's grace). The cache must be shared by
    every server and must not evict keys early (Redis: ``maxmemory-policy
    noeviction`` or a ``volatile-*`` policy with enough memory).
    ``OPTIONS``: ``CACHE`` (default ``BFF["CACHE"]``), ``KEY_PREFIX``.
    """

    finds_users = True

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

    def _locked(self, name: str) -> CacheLock:
        lock = CacheLock(self.cache, self._pointer_key("lock", name), timeout=10)
        if lock.take(10, polling=Polling(first=0.02)) is Waited.TIMED_OUT:
            raise TimeoutError("the session index entry stayed locked")
        return lock

    def _update(self, sub: str, change: Any) -> None:
        """Apply ``change(entries)`` to ``sub``'s entries under a lock, dropping expired ones."""
        lock = self._locked(sub)
        try:
            now = clock.time()
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
                "user": info.user,
            }

        self._update(info.sub, change)
        timeout = max(1, int(expires - clock.time()) + GRACE)
        self.cache.set(self._pointer_key("sid", info.sid), info.sub, timeout)
        self.cache.set(self._pointer_key("key", digest), info.sub, timeout)
        if info.user:
            # The subs a Django user logged in as (one, nearly always), for find(user=...).
            key = self._pointer_key("user", info.user)
            lock = self._locked("user:" + info.user)
            try:
                subs = self.cache.get(key)
                subs = [s for s in subs if isinstance(s, str)] if isinstance(subs, list) else []
                if info.sub not in subs:
                    subs.append(info.sub)
                # As long as the latest-expiring session of any of them.
                horizon = max([expires] + [e["expires"] for s in subs for e in self._entries(s).values()])
                self.cache.set(key, subs, max(1, int(horizon - clock.time()) + GRACE))
            finally:
                lock.release()

    def remove(self, session_key: str) -> None:
        digest = _digest(session_key)
        sub = self.cache.get(self._pointer_key("key", digest))
        if isinstance(sub, str):
            self._update(sub, lambda entries: entries.pop(digest, None))
        self.cache.delete(self._pointer_key("key", digest))

    def find(self, *, sub: str | None = None, sid: str | None = None, user: str | None = None) -> list[SessionInfo]:
        if sub is None and sid is None and user is None:
            raise NotImplementedError("CacheSessionIndex finds sessions by sub, sid or user only")
        if sub is not None:
            subs = [sub]
        elif sid is not None:
            pointed = self.cache.get(self._pointer_key("sid", sid))
            subs = [pointed] if isinstance(pointed, str) else []
        else:
            pointed = self.cache.get(self._pointer_key("user", str(user)))
            subs = [s for s in pointed if isinstance(s, str)] if isinstance(pointed, list) else []
        now = clock.time()
        found = []
        for one in subs:
            for entry in self._entries(one).values():
                if entry["expires"] + GRACE <= now:
                    continue
                if (sid is not None and entry["sid"] != sid) or (user is not None and entry.get("user") != user):
                    continue
                key = _decrypt_key(entry["key"])
                if key is not None:
                    found.append(
                        SessionInfo(
                            sub=one,
                            sid=entry["sid"],
                            session_key=key,
                            created=_aware(entry["created"]),
                            expires=_aware(entry["expires"]),
                            user=str(entry.get("user", "")),
                        )
                    )
        return sorted(found, key=lambda info: info.created)


@per_settings
def get_session_index() -> SessionIndex:
    """The index configured by ``BFF["SESSION_INDEX"]`` (made once per settings)."""
    return load_backend("SESSION_INDEX", SessionIndex, BFFImproperlyConfigured)
