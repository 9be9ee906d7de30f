"""The shipped stores' shared logic: one versioned, encrypted record per session, compare-and-set writes.

In the data flow: :class:`RecordTokenStore` subclasses :class:`~.base.UserTokenStore`;
:class:`~.session.SessionTokenStore` and :class:`~.cache.CacheTokenStore`
subclass it and say where a record lives. The record's shape and its encryption
are :mod:`django_bff.codecs`; a write forgets the session's tokens in the
worker's memory (:mod:`django_bff.token_memory`).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, SessionBase
from django.core.cache import BaseCache, caches
from django.http import HttpRequest
from django.utils.crypto import get_random_string

from django_bff.codecs import record_token, record_tokens, valid_record, with_token
from django_bff.conf import bff_settings
from django_bff.exceptions import TokenStoreConflict, TokenStoreError
from django_bff.locks import CacheLock, Waited
from django_bff.session_keys import SESSION_REF_KEY
from django_bff.stores.base import UserTokenStore, resource_key
from django_bff.token_memory import forget_session_tokens
from django_bff.tokens import UserToken, UserTokenRequestParameters

__all__ = ["RecordTokenStore"]


#: The record versions each loaded session has seen, per record and resource: what a
#: compare-and-set write compares with. Kept with the session object, gone with it.
_versions_seen: WeakKeyDictionary[SessionBase, dict[str, int]] = WeakKeyDictionary()


def _seen(session: SessionBase) -> dict[str, int]:
    seen = _versions_seen.get(session)
    if seen is None:
        seen = _versions_seen[session] = {}
    return seen


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
    def _lifetime(session: SessionBase) -> int:
        """Seconds the record lives: the session's remaining age, at least ``SESSION_COOKIE_AGE``.

        A sliding session outlives the age it had when the record was written; the
        floor keeps its tokens for another full cookie age, and every refresh
        writes the record again.
        """
        return max(int(session.get_expiry_age()), int(settings.SESSION_COOKIE_AGE), 1)

    # --- the contract, on the session ------------------------------------------------
    def get_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> UserToken | None:
        return self.get_session_token(request.session, parameters)

    def get_session_token(
        self, session: SessionBase, parameters: UserTokenRequestParameters | None = None
    ) -> UserToken | None:
        ref = session.get(SESSION_REF_KEY)
        if not isinstance(ref, str):
            return None
        record = valid_record(self.read_record(ref))
        if record is None:
            return None
        resource = resource_key(parameters)
        _seen(session)[f"{ref}:{resource}"] = record["versions"].get(resource, 0)
        return record_token(record, resource)

    def store_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        session = request.session
        forget_session_tokens(session.session_key)  # what this worker keeps in memory is stale
        ref = session.get(SESSION_REF_KEY)
        if not isinstance(ref, str):
            ref = get_random_string(32, VALID_KEY_CHARS)
            session[SESSION_REF_KEY] = ref
        mutex = CacheLock(self.mutex_cache(), f"bff:store-mutex:{ref}", timeout=10)
        if mutex.take(self.mutex_wait) is Waited.TIMED_OUT:
            raise TokenStoreError("timed out waiting to write the token record")
        try:
            current = valid_record(self.read_record(ref))
            resource = resource_key(parameters)
            seen, seen_key = _seen(session), f"{ref}:{resource}"
            if current is not None and seen_key in seen and current["versions"].get(resource, 0) != seen[seen_key]:
                raise TokenStoreConflict("the stored tokens changed since this request read them")
            record = with_token(current, resource, token)
            self.write_record(ref, record, self._lifetime(session), exists=current is not None)
            seen[seen_key] = record["v"]
        finally:
            mutex.release()

    def stored_tokens(self, request: HttpRequest) -> list[UserToken]:
        """Every token of this request's session: its own first, then per resource and scope (diagnostics)."""
        ref = request.session.get(SESSION_REF_KEY)
        return record_tokens(valid_record(self.read_record(ref)) if isinstance(ref, str) else None)

    def clear_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        self.clear_session_tokens(request.session)

    def clear_session_tokens(self, session: SessionBase) -> None:
        forget_session_tokens(session.session_key)
        ref = session.get(SESSION_REF_KEY)
        if isinstance(ref, str):
            self.delete_record(ref)
            seen = _seen(session)
            for key in [k for k in seen if k.startswith(ref + ":")]:
                del seen[key]
        if SESSION_REF_KEY in session:
            del session[SESSION_REF_KEY]
