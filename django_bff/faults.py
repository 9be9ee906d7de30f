"""Storage outages: what counts as one, and session engines that report them.

In the data flow: at the bottom, beside the storage. The stores, the locks, the
session middleware and the token manager ask :func:`is_storage_error` when a
cache or database call fails.

django_bff keeps state in three places a deployment can lose for a while: the
Django cache (refresh locks, cached client tokens, the logout-token ``jti``
cache, and with :class:`~django_bff.stores.CacheTokenStore` or
:class:`~django_bff.sessions.CacheSessionIndex` the tokens or the index), the
session storage, and the database. When one of them cannot be reached, the
browser gets ``503`` with ``Retry-After`` (``{"error": "storage_unavailable"}``),
never a ``500``, and nothing is changed: the tokens and the session are kept,
and no security check is skipped (a ``jti`` cache that is down refuses logout
tokens instead of accepting replays).

:func:`is_storage_error` says whether an exception is such an outage (and not a
bug): the database's ``DatabaseError``, socket errors, django-redis's
``ConnectionInterrupted``, redis-py's and pymemcache's errors.
:func:`storage_unavailable` turns one into
:class:`~django_bff.exceptions.StorageUnavailable`.

Django's ``cache`` session engine reads a session that it cannot reach as an
empty one, so a Redis outage would look like a logout (a 401 that sends the
browser app to log in again, into a login that cannot save its session).
:func:`strict_session_store` makes a subclass of the configured engine that
raises instead; :class:`django_bff.middleware.SessionMiddleware` and
:class:`~django_bff.stores.SessionTokenStore` use it. With ``cached_db``, a
cache that is down is a degraded path, not an outage: the session is read from
the database.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import SessionBase
from django.db import DatabaseError

from django_bff.conf import bff_settings
from django_bff.exceptions import StorageUnavailable, TokenStoreConflict, TokenStoreError

__all__ = ["is_storage_error", "storage_unavailable", "strict_session_store"]

logger = logging.getLogger(__name__)


@functools.cache
def _outage_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [DatabaseError, OSError, StorageUnavailable]
    try:
        from django_redis.exceptions import ConnectionInterrupted  # type: ignore[import-untyped]  # ships no types

        types.append(ConnectionInterrupted)
    except ImportError:  # pragma: no cover - django-redis is optional
        pass
    try:
        from redis.exceptions import RedisError

        types.append(RedisError)
    except ImportError:  # pragma: no cover - redis-py is optional
        pass
    try:
        from pymemcache.exceptions import MemcacheError  # type: ignore[import-not-found]  # optional, not installed

        types.append(MemcacheError)
    except ImportError:
        pass
    return tuple(types)


def is_storage_error(error: BaseException) -> bool:
    """True when ``error`` means the cache, the session storage or the database cannot be reached."""
    if isinstance(error, TokenStoreError):
        return not isinstance(error, TokenStoreConflict)
    return isinstance(error, _outage_types())


def storage_unavailable(error: BaseException, what: str) -> StorageUnavailable:
    """The :class:`StorageUnavailable` to raise for ``error`` (logged here, by type only)."""
    if isinstance(error, StorageUnavailable):
        return error
    logger.warning("%s: storage unavailable (%s)", what, type(error).__name__)
    return StorageUnavailable(f"{what}: storage unavailable", retry_after=bff_settings.RETRY_AFTER)


def _outage(error: Exception) -> Exception:
    """What a session read that failed raises: :class:`StorageUnavailable` for an outage, else the error."""
    return storage_unavailable(error, "session read") if is_storage_error(error) else error


def _is_cache_engine(engine: type[SessionBase]) -> bool:
    from django.contrib.sessions.backends.cache import SessionStore as CacheStore

    return issubclass(engine, CacheStore)


def _is_cached_db_engine(engine: type[SessionBase]) -> bool:
    from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

    return issubclass(engine, CachedDBStore)


def _same_names(subclass: type, engine: type) -> None:
    """The engine's own names: Django salts session data with the class's ``__qualname__``
    (``SessionBase.key_salt``), so a subclass by another name could not read the sessions
    the engine wrote (and the other way round)."""
    subclass.__qualname__, subclass.__name__, subclass.__module__ = (
        engine.__qualname__,
        engine.__name__,
        engine.__module__,
    )


@functools.cache
def strict_session_store(engine: type[SessionBase]) -> type[SessionBase]:
    """``engine``, or a subclass of it whose reads report an unreachable cache.

    * ``cache`` engine: a read that fails raises :class:`StorageUnavailable`
      instead of answering an empty session.
    * ``cached_db`` engine: a read whose cache part fails is served by the
      database, and the failed cache write that follows is logged, not raised.
    * any other engine: unchanged (database errors already propagate).
    """
    if _is_cache_engine(engine):

        class StrictCacheSessionStore(engine):  # type: ignore[valid-type,misc]  # a class chosen at run time
            def load(self) -> dict[str, Any]:
                try:
                    data = self._cache.get(self.cache_key)
                except Exception as e:
                    raise _outage(e) from None
                return self._loaded(data)

            async def aload(self) -> dict[str, Any]:
                try:
                    data = await self._cache.aget(await self.acache_key())
                except Exception as e:
                    raise _outage(e) from None
                return self._loaded(data)

            def _loaded(self, data: Any) -> dict[str, Any]:
                if data is not None:
                    return cast(dict[str, Any], data)
                self._session_key = None  # as Django's engine: an unknown key gets a new one
                return {}

        _same_names(StrictCacheSessionStore, engine)
        return StrictCacheSessionStore

    if _is_cached_db_engine(engine):

        class DegradingCachedDBSessionStore(engine):  # type: ignore[valid-type,misc]  # a class chosen at run time
            def load(self) -> dict[str, Any]:
                try:
                    data = self._cache.get(self.cache_key)
                except Exception as e:
                    if not is_storage_error(e):
                        raise
                    logger.warning("session cache unavailable (%s); reading the database", type(e).__name__)
                    s = self._get_session_from_db()
                    return self.decode(s.session_data) if s else {}
                if data is not None:
                    return cast(dict[str, Any], data)
                s = self._get_session_from_db()
                if not s:
                    return {}
                data = self.decode(s.session_data)
                try:
                    self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=s.expire_date))
                except Exception as e:
                    if not is_storage_error(e):
                        raise
                    logger.warning("session cache unavailable (%s); not cached", type(e).__name__)
                return cast(dict[str, Any], data)

            async def aload(self) -> dict[str, Any]:
                return await sync_to_async(self.load)()

        _same_names(DegradingCachedDBSessionStore, engine)
        return DegradingCachedDBSessionStore

    return engine
