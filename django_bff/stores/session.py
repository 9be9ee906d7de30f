"""Tokens kept by Django's session machinery: :class:`SessionTokenStore` and :class:`CookieTokenStore`.

In the data flow: :class:`SessionTokenStore` (the default store) is a
:class:`~.record.RecordTokenStore` whose record is a session entry of its own in
the configured ``SESSION_ENGINE``; with ``signed_cookies``, which has no
server-side storage, it hands its calls to :class:`CookieTokenStore`, which
keeps the record in the session itself.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.http import HttpRequest

from django_bff.codecs import record_token, record_tokens, valid_record, with_token
from django_bff.session_keys import RECORD_FIELD, SESSION_RECORD_KEY
from django_bff.stores.base import UserTokenStore, resource_key
from django_bff.stores.record import RecordTokenStore
from django_bff.tokens import UserToken, UserTokenRequestParameters

__all__ = ["SessionTokenStore", "CookieTokenStore"]


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


class CookieTokenStore(UserTokenStore):
    """Tokens inside the session itself, encrypted: for the ``signed_cookies`` session engine.

    That engine has no server-side storage, so the record (the shape
    :class:`RecordTokenStore` writes) is a value of the session,
    ``SESSION_RECORD_KEY``, and travels in the cookie. There is no
    compare-and-set: the cookie a response sets last wins (``django_bff.W001``).
    :class:`SessionTokenStore` hands its calls here when ``SESSION_ENGINE`` is
    ``signed_cookies``; naming this class yourself makes sense with that engine only.
    """

    def get_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> UserToken | None:
        return self.get_session_token(request.session, parameters)

    def get_session_token(
        self, session: SessionBase, parameters: UserTokenRequestParameters | None = None
    ) -> UserToken | None:
        return record_token(valid_record(session.get(SESSION_RECORD_KEY)), resource_key(parameters))

    def store_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        current = valid_record(request.session.get(SESSION_RECORD_KEY))
        request.session[SESSION_RECORD_KEY] = with_token(current, resource_key(parameters), token)

    def stored_tokens(self, request: HttpRequest) -> list[UserToken]:
        """Every token of this request's session: its own first, then per resource and scope (diagnostics)."""
        return record_tokens(valid_record(request.session.get(SESSION_RECORD_KEY)))

    def clear_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        self.clear_session_tokens(request.session)

    def clear_session_tokens(self, session: SessionBase) -> None:
        session.pop(SESSION_RECORD_KEY, None)

    def on_tokens_visible(self, request: HttpRequest, callback: Any) -> None:
        callback()  # the response's cookie is all there is


class SessionTokenStore(RecordTokenStore):
    """Tokens in Django's session storage (the configured ``SESSION_ENGINE``), encrypted.

    The record is a session entry of its own, under a random key, so it expires
    and is cleaned up (``clearsessions``) like any session. With the
    ``signed_cookies`` engine every call goes to :class:`CookieTokenStore`
    instead (:attr:`in_cookie`). With the ``db`` and ``cached_db`` engines, a
    write made while the request is inside a transaction goes through a
    connection of its own and commits at once (see the module documentation).
    """

    RECORD_FIELD = RECORD_FIELD

    @property
    def engine(self) -> type[SessionBase]:
        """The configured engine; a ``cache`` engine that cannot be reached raises instead of reading empty."""
        from django_bff.faults import strict_session_store

        return strict_session_store(import_module(settings.SESSION_ENGINE).SessionStore)

    @property
    def in_cookie(self) -> bool:
        """Whether the engine is ``signed_cookies``: the calls then go to :class:`CookieTokenStore`."""
        from django.contrib.sessions.backends.signed_cookies import SessionStore as CookieStore

        return issubclass(self.engine, CookieStore)

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

    # signed_cookies: one line each, handing the call to the cookie store.
    def get_session_token(
        self, session: SessionBase, parameters: UserTokenRequestParameters | None = None
    ) -> UserToken | None:
        if self.in_cookie:
            return _COOKIE_STORE.get_session_token(session, parameters)
        return super().get_session_token(session, parameters)

    def stored_tokens(self, request: HttpRequest) -> list[UserToken]:
        return _COOKIE_STORE.stored_tokens(request) if self.in_cookie else super().stored_tokens(request)

    def clear_session_tokens(self, session: SessionBase) -> None:
        return _COOKIE_STORE.clear_session_tokens(session) if self.in_cookie else super().clear_session_tokens(session)

    def store_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        if self.in_cookie:
            return _COOKIE_STORE.store_token(request, token, parameters)
        connection = self._transaction()
        if connection is not None and connection.vendor != "sqlite":
            # Committed at once, whatever becomes of the request's transaction. (SQLite
            # cannot: a second connection would wait for this one's own locks.)
            _outside_transaction(super().store_token, request, token, parameters)
            return None
        return super().store_token(request, token, parameters)

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


_COOKIE_STORE = CookieTokenStore()
