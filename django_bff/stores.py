"""User token stores (reference: ``IUserTokenStore``).

Choose one with ``BFF["USER_TOKEN_STORE"] = {"BACKEND": dotted_path, "OPTIONS": {...}}``.

:class:`SessionTokenStore` (the default) keeps tokens in Django's session
storage, :class:`CacheTokenStore` in a Django cache (django-redis in
production). Both keep the tokens in a *record* of their own, encrypted, and put
only the record's random id in ``request.session``. That id is written once, at
login, and never changes, so a request that loaded the session before another
request refreshed the tokens can save its session afterwards without writing old
tokens back: Django saves the session dict whole, but the dict holds no tokens.
Writes to the record are compare-and-set: a request whose view of the record is
older than the stored one gets :class:`~django_bff.exceptions.TokenStoreConflict`
instead of overwriting newer tokens.

The tokens a refresh brings are written at once, for good, even inside a
transaction (``ATOMIC_REQUESTS``): the provider has already rotated the refresh
token, so the new one must be visible to every other worker as soon as the
refresh lock is released, and must survive the view's transaction being rolled
back. :class:`SessionTokenStore` with a database session engine therefore
writes from a connection of its own when the request's connection is inside a
transaction.

With the ``signed_cookies`` session engine there is no server-side storage:
:class:`SessionTokenStore` then keeps the (encrypted) record in the cookie
itself, and a system check warns that concurrent refreshes cannot be made safe
there (``django_bff.W001``).
"""

from __future__ import annotations

import functools
import logging
from importlib import import_module
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, SessionBase, UpdateError
from django.core.cache import BaseCache, caches
from django.core.checks import CheckMessage
from django.core.checks import Error as CheckError
from django.http import HttpRequest
from django.utils.crypto import get_random_string

from django_bff.codecs import decode_user_token as _decode_token
from django_bff.codecs import encode_user_token as _encode_token
from django_bff.conf import bff_settings, load_backend, on_reload
from django_bff.exceptions import InvalidTokenStore, TokenStoreConflict, TokenStoreError
from django_bff.locks import CacheLock, Waited
from django_bff.session_keys import RECORD_FIELD, SESSION_RECORD_KEY, SESSION_REF_KEY
from django_bff.tokens import UserToken, UserTokenRequestParameters

__all__ = ["UserTokenStore", "RecordTokenStore", "SessionTokenStore", "CacheTokenStore", "get_token_store"]

logger = logging.getLogger(__name__)


class UserTokenStore:
    """Base class of token stores. Subclass it and name yours in ``BFF["USER_TOKEN_STORE"]``.

    ``request.user`` is the user the tokens belong to, ``request.session`` the
    session. ``parameters.resource`` and ``parameters.scope`` tell tokens apart:
    keep one per resource and scope.

    Subclasses must implement :meth:`store_token`, :meth:`get_token` and
    :meth:`clear_token`. The async twins default to running those in a thread;
    override them when your storage has a native async client. :meth:`check`
    may return system-check messages about the store's options.
    """

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"{type(self).__name__} got unknown OPTIONS: {', '.join(sorted(options))}")

    # --- must implement ------------------------------------------------------
    def store_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        """Store ``token`` for this request's session (and ``parameters.resource``)."""
        raise NotImplementedError("subclasses of UserTokenStore must provide a store_token() method")

    def get_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> UserToken | None:
        """The stored token, or ``None`` when there is none."""
        raise NotImplementedError("subclasses of UserTokenStore must provide a get_token() method")

    def clear_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        """Forget every token of this request's session."""
        raise NotImplementedError("subclasses of UserTokenStore must provide a clear_token() method")

    # --- async twins ------------------------------------------------------------
    async def astore_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        await sync_to_async(self.store_token)(request, token, parameters)

    async def aget_token(
        self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None
    ) -> UserToken | None:
        return await sync_to_async(self.get_token)(request, parameters)

    async def aclear_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        await sync_to_async(self.clear_token)(request, parameters)

    # --- optional ---------------------------------------------------------------------
    def check(self) -> list[CheckMessage]:
        """System-check messages about this store's configuration (may be empty)."""
        return []

    def on_tokens_visible(self, request: HttpRequest, callback: Any) -> None:
        """Call ``callback`` once the tokens this request stored can be read by other workers.

        The token manager releases its refresh lock through this: a worker waiting
        for the refresh must find the new tokens when it gets the lock. The default
        waits for the database transaction the request is in, if any
        (``ATOMIC_REQUESTS``); override it when your storage is visible at once.
        """
        from django.db import transaction

        transaction.on_commit(callback, robust=True)


def _resource_key(parameters: UserTokenRequestParameters | None) -> str:
    """Where a token is kept in a record: per resource and per (narrower) scope."""
    if parameters is None:
        return ""
    key = parameters.resource or ""
    return f"{key} scope={parameters.scope}" if parameters.scope else key


def _forget_in_memory(request: HttpRequest) -> None:
    """A write of this worker's: what the token manager keeps in memory for the session is stale."""
    from django_bff.token_manager import forget_session_tokens

    forget_session_tokens(getattr(getattr(request, "session", None), "session_key", None))


class RecordTokenStore(UserTokenStore):
    """Shared logic of the shipped stores: a versioned record per session, compare-and-set writes.

    Subclasses provide :meth:`read_record`, :meth:`write_record` and
    :meth:`delete_record` for a record id.
    """

    mutex_wait = 5.0

    def read_record(self, ref: str) -> dict[str, Any] | None:
        raise NotImplementedError("subclasses of RecordTokenStore must provide a read_record() method")

    def write_record(self, ref: str, record: dict[str, Any], lifetime: int, exists: bool) -> None:
        raise NotImplementedError("subclasses of RecordTokenStore must provide a write_record() method")

    def delete_record(self, ref: str) -> None:
        raise NotImplementedError("subclasses of RecordTokenStore must provide a delete_record() method")

    def mutex_cache(self) -> BaseCache:
        return caches[bff_settings.CACHE]

    # --- helpers ----------------------------------------------------------------------
    @staticmethod
    def _seen(request: HttpRequest) -> dict[str, int]:
        seen: dict[str, int] | None = getattr(request, "_bff_token_versions", None)
        if seen is None:
            seen = {}
            request._bff_token_versions = seen  # type: ignore[attr-defined]
        return seen

    @staticmethod
    def _lifetime(request: HttpRequest) -> int:
        """Seconds the record lives: the session's remaining age, at least ``SESSION_COOKIE_AGE``.

        A sliding session outlives the age it had when the record was written; the
        floor keeps its tokens for another full cookie age, and every refresh
        writes the record again.
        """
        return max(int(request.session.get_expiry_age()), int(settings.SESSION_COOKIE_AGE), 1)

    def _valid_record(self, record: Any) -> dict[str, Any] | None:
        """A record is ``{"v": writes, "tokens": {resource: blob}, "versions": {resource: v}}``.

        ``versions`` says at which write each resource's token last changed, so
        compare-and-set works per resource: refreshing one resource's token never
        conflicts with a refresh of another's.
        """
        if (
            isinstance(record, dict)
            and isinstance(record.get("v"), int)
            and isinstance(record.get("tokens"), dict)
            and isinstance(record.get("versions"), dict)
        ):
            return record
        return None

    # --- the contract ----------------------------------------------------------------
    def get_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> UserToken | None:
        ref = request.session.get(SESSION_REF_KEY)
        if not isinstance(ref, str):
            return None
        record = self._valid_record(self.read_record(ref))
        if record is None:
            return None
        resource = _resource_key(parameters)
        self._seen(request)[f"{ref}:{resource}"] = record["versions"].get(resource, 0)
        return _decode_token(record["tokens"].get(resource))

    def store_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        _forget_in_memory(request)
        ref = request.session.get(SESSION_REF_KEY)
        if not isinstance(ref, str):
            ref = get_random_string(32, VALID_KEY_CHARS)
            request.session[SESSION_REF_KEY] = ref
        mutex = CacheLock(self.mutex_cache(), f"bff:store-mutex:{ref}", timeout=10)
        if mutex.take(self.mutex_wait) is Waited.TIMED_OUT:
            raise TokenStoreError("timed out waiting to write the token record")
        try:
            current = self._valid_record(self.read_record(ref))
            resource = _resource_key(parameters)
            seen, seen_key = self._seen(request), f"{ref}:{resource}"
            if current is not None and seen_key in seen and current["versions"].get(resource, 0) != seen[seen_key]:
                raise TokenStoreConflict("the stored tokens changed since this request read them")
            version: int = (current["v"] + 1) if current else 1
            tokens: dict[str, str] = dict(current["tokens"]) if current else {}
            versions: dict[str, int] = dict(current["versions"]) if current else {}
            tokens[resource] = _encode_token(token)
            versions[resource] = version
            record = {"v": version, "tokens": tokens, "versions": versions}
            self.write_record(ref, record, self._lifetime(request), exists=current is not None)
            seen[seen_key] = version
        finally:
            mutex.release()

    def stored_tokens(self, request: HttpRequest) -> list[UserToken]:
        """Every token of this request's session: its own first, then per resource and scope (diagnostics)."""
        ref = request.session.get(SESSION_REF_KEY)
        record = self._valid_record(self.read_record(ref)) if isinstance(ref, str) else None
        if record is None:
            return []
        tokens = [_decode_token(record["tokens"][key]) for key in sorted(record["tokens"])]
        return [token for token in tokens if token is not None]

    def clear_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        _forget_in_memory(request)
        ref = request.session.get(SESSION_REF_KEY)
        if isinstance(ref, str):
            self.delete_record(ref)
            seen = self._seen(request)
            for key in [k for k in seen if k.startswith(ref + ":")]:
                del seen[key]
        if SESSION_REF_KEY in request.session:
            del request.session[SESSION_REF_KEY]


def _outside_transaction(func: Any, *args: Any) -> Any:
    """Run ``func`` on a connection of its own (another thread's), so its writes commit at once."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def run() -> Any:
        try:
            return func(*args)
        finally:
            connections.close_all()  # this thread's connections; the thread ends here

    with ThreadPoolExecutor(1, thread_name_prefix="django-bff-token-write") as executor:
        return executor.submit(run).result()


class SessionTokenStore(RecordTokenStore):
    """Tokens in Django's session storage (the configured ``SESSION_ENGINE``), encrypted.

    The record is a session entry of its own, under a random key, so it expires
    and is cleaned up (``clearsessions``) like any session. With the
    ``signed_cookies`` engine the record lives inside the cookie instead. With
    the ``db`` and ``cached_db`` engines, a write made while the request is
    inside a transaction goes through a connection of its own and commits at
    once (see the module documentation).
    """

    RECORD_FIELD = RECORD_FIELD

    @property
    def engine(self) -> type[SessionBase]:
        """The configured engine; a ``cache`` engine that cannot be reached raises instead of reading empty."""
        from django_bff.faults import strict_session_store

        return strict_session_store(import_module(settings.SESSION_ENGINE).SessionStore)

    @property
    def in_cookie(self) -> bool:
        from django.contrib.sessions.backends.signed_cookies import SessionStore as CookieStore

        return issubclass(self.engine, CookieStore)

    # In-cookie mode: the record is a value in request.session itself.
    def get_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> UserToken | None:
        if not self.in_cookie:
            return super().get_token(request, parameters)
        record = self._valid_record(request.session.get(SESSION_RECORD_KEY))
        return _decode_token(record["tokens"].get(_resource_key(parameters))) if record else None

    def _transaction(self) -> Any:
        """The database connection of the session engine when it is inside a transaction, else None."""
        from django.contrib.sessions.backends.db import SessionStore as DBStore
        from django.db import connections, router

        engine = self.engine
        if not issubclass(engine, DBStore):
            return None
        connection = connections[router.db_for_write(engine.get_model_class())]
        # A test case's own transaction does not count (as for Django's durable atomic blocks).
        blocks = [b for b in connection.atomic_blocks if not getattr(b, "_from_testcase", False)]
        return connection if connection.in_atomic_block and blocks else None

    def store_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        if not self.in_cookie:
            connection = self._transaction()
            if connection is not None and connection.vendor != "sqlite":
                # Committed at once, whatever becomes of the request's transaction. (SQLite
                # cannot: a second connection would wait for this one's own locks.)
                _outside_transaction(super().store_token, request, token, parameters)
                return None
            return super().store_token(request, token, parameters)
        record = self._valid_record(request.session.get(SESSION_RECORD_KEY)) or {"v": 0, "tokens": {}, "versions": {}}
        version = record["v"] + 1
        resource = _resource_key(parameters)
        tokens, versions = dict(record["tokens"]), dict(record["versions"])
        tokens[resource], versions[resource] = _encode_token(token), version
        request.session[SESSION_RECORD_KEY] = {"v": version, "tokens": tokens, "versions": versions}

    def stored_tokens(self, request: HttpRequest) -> list[UserToken]:
        if not self.in_cookie:
            return super().stored_tokens(request)
        record = self._valid_record(request.session.get(SESSION_RECORD_KEY))
        tokens = [_decode_token(record["tokens"][key]) for key in sorted(record["tokens"])] if record else []
        return [token for token in tokens if token is not None]

    def clear_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        if not self.in_cookie:
            return super().clear_token(request, parameters)
        request.session.pop(SESSION_RECORD_KEY, None)

    def on_tokens_visible(self, request: HttpRequest, callback: Any) -> None:
        """At once, but for the ``db`` engine on SQLite inside a transaction: at its commit."""
        from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
        from django.db import transaction

        connection = None if self.in_cookie or issubclass(self.engine, CachedDBStore) else self._transaction()
        if connection is not None and connection.vendor == "sqlite":
            transaction.on_commit(callback, using=connection.alias, robust=True)
        else:
            callback()

    # Server-side mode: the record is a session of its own.
    def read_record(self, ref: str) -> dict[str, Any] | None:
        data = self.engine(session_key=ref).load()
        return data.get(self.RECORD_FIELD)

    def write_record(self, ref: str, record: dict[str, Any], lifetime: int, exists: bool) -> None:
        store = self.engine(session_key=ref)
        store.clear()  # start from an empty dict without loading
        store[self.RECORD_FIELD] = record
        store.set_expiry(lifetime)
        try:
            store.save(must_create=not exists)
        except CreateError:
            store.save(must_create=False)
        except UpdateError:
            store.save(must_create=True)

    def delete_record(self, ref: str) -> None:
        self.engine(session_key=ref).delete(ref)


class CacheTokenStore(RecordTokenStore):
    """Tokens in a Django cache (django-redis in production), encrypted, keyed by session.

    OPTIONS: ``CACHE`` (alias, default ``BFF["CACHE"]``), ``KEY_PREFIX``
    (default ``"bff:tokens:"``).
    """

    def __init__(self, *, CACHE: str | None = None, KEY_PREFIX: str = "bff:tokens:", **options: Any) -> None:  # noqa: N803
        super().__init__(**options)
        self.cache_alias = CACHE
        self.key_prefix = KEY_PREFIX

    @property
    def cache(self) -> BaseCache:
        return caches[self.cache_alias or bff_settings.CACHE]

    def mutex_cache(self) -> BaseCache:
        return self.cache

    def on_tokens_visible(self, request: HttpRequest, callback: Any) -> None:
        callback()  # a cache write is read by everybody at once

    def read_record(self, ref: str) -> dict[str, Any] | None:
        value = self.cache.get(self.key_prefix + ref)
        return value if isinstance(value, dict) else None

    def write_record(self, ref: str, record: dict[str, Any], lifetime: int, exists: bool) -> None:
        self.cache.set(self.key_prefix + ref, record, lifetime)

    def delete_record(self, ref: str) -> None:
        self.cache.delete(self.key_prefix + ref)

    def check(self) -> list[CheckMessage]:
        alias = self.cache_alias or bff_settings.CACHE
        if alias not in settings.CACHES:
            return [
                CheckError(
                    f"CacheTokenStore names an unknown cache {alias!r}.",
                    hint='Set BFF["USER_TOKEN_STORE"]["OPTIONS"]["CACHE"] to an alias in CACHES.',
                    id="django_bff.E014",
                )
            ]
        return []


@functools.lru_cache(maxsize=1)
def get_token_store() -> UserTokenStore:
    """The store configured by ``BFF["USER_TOKEN_STORE"]`` (made once per settings)."""
    return load_backend("USER_TOKEN_STORE", UserTokenStore, InvalidTokenStore)


on_reload(get_token_store.cache_clear)
