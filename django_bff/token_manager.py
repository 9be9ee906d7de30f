"""Getting, refreshing and revoking user tokens.

:func:`get_user_access_token` reads the store and returns the token when it is
fresh enough. Within ``BFF["REFRESH_BEFORE_EXPIRATION"]`` seconds of expiry (or
with ``force_renewal``) it refreshes, once per refresh token (that is, per
session: every token of a session comes from its one grant) at a time across
threads and processes: the refresher holds a lock in the Django cache
(``BFF["CACHE"]``, Redis in production), re-reads the store after taking it, and
the others wait (at most ``BFF["REFRESH_LOCK_WAIT"]`` seconds) for the token it
stores. This matters: a provider that rotates refresh tokens revokes the whole
grant when one refresh token is used twice.

A refresh whose request may have reached the provider without an answer
coming back (a timeout, a connection lost after sending) leaves its refresh
token *in doubt*: the provider may still rotate it. Nobody refreshes with that
token again until the refresh lock, kept by the worker that gave up, expires
(``BFF["REFRESH_LOCK_TIMEOUT"]`` after it was taken); an in-doubt marker in the
cache answers the calls in the meantime at once with 503 and ``Retry-After``.
Every token-service request ends within ``BACKCHANNEL_CONNECT_TIMEOUT +
BACKCHANNEL_READ_TIMEOUT`` (:func:`django_bff.backchannel.fetch`), which
``django_bff.W004`` keeps shorter than the lock's lifetime.

A token that needs no refresh is also kept in the worker's memory for
``BFF["TOKEN_MEMORY_TTL"]`` seconds (10 by default; 0: never), per session key
and resource, so that most calls read only the session: the store is read again
after that, before any refresh (which always reads the store), and at once
after a refresh or a logout in this process. Another worker's refresh or logout
is seen within that time; a logout also ends the session, which is read on
every call.

Expiry counts from when the token request was sent, and a token is renewed
``BFF["REFRESH_BEFORE_EXPIRATION"]`` seconds before it expires, or at half its
lifetime when that comes first (logged once per process).

When the cache or the token storage cannot be reached the answer is
``storage_unavailable`` (503 for the browser), never an exception.

The flow is written once, as a generator of operations (``_user_token_flow``),
and run by a sync driver and an async one, so both behave the same; the async
driver never blocks the event loop while waiting or calling the provider.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import alogout, logout
from django.core.cache import caches
from django.http import HttpRequest

from django_bff import oauth, telemetry
from django_bff.clients import get_client
from django_bff.clock import clock
from django_bff.codecs import decode_client_token, encode_client_token
from django_bff.conf import bff_settings, on_reload
from django_bff.exceptions import (
    TokenRequestRejected,
    TokenServiceError,
    TokenServiceUnavailable,
    TokenStoreConflict,
)
from django_bff.faults import is_storage_error, storage_unavailable
from django_bff.locks import CacheLock
from django_bff.sessions import asession_login, session_login
from django_bff.signals import token_refresh_failed, token_refreshed
from django_bff.stores import UserTokenStore, get_token_store
from django_bff.tokens import (
    ClientToken,
    TokenError,
    TokenResult,
    UserToken,
    UserTokenRequestParameters,
    expires_at_from_response,
)

__all__ = [
    "forget_session_tokens",
    "get_client_access_token",
    "aget_client_access_token",
    "get_user_access_token",
    "aget_user_access_token",
    "revoke_refresh_token",
    "arevoke_refresh_token",
]

logger = logging.getLogger(__name__)


# --- the operations a flow yields, and the two drivers ---------------------------------


@dataclass
class _Call:
    sync: Callable[..., Any]
    asynchronous: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: For the async driver when there is no async twin: False for network calls,
    #: so they run in a worker thread of their own instead of the shared sync thread.
    thread_sensitive: bool = True


@dataclass
class _Sleep:
    seconds: float


_Flow = Generator[Any, Any, Any]


def _call(sync: Callable[..., Any], asynchronous: Callable[..., Any] | None, *args: Any, **kwargs: Any) -> _Call:
    return _Call(sync, asynchronous, args, kwargs)


def _run_sync(flow: _Flow) -> Any:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            if isinstance(op, _Sleep):
                time.sleep(op.seconds)
            else:
                value = op.sync(*op.args, **op.kwargs)
        except Exception as e:  # handed to the flow, which decides
            error = e


async def _run_async(flow: _Flow) -> Any:
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            if isinstance(op, _Sleep):
                await asyncio.sleep(op.seconds)
            elif op.asynchronous is not None:
                value = await op.asynchronous(*op.args, **op.kwargs)
            else:
                value = await sync_to_async(op.sync, thread_sensitive=op.thread_sensitive)(*op.args, **op.kwargs)
        except Exception as e:
            error = e


# --- small sync/async pairs ---------------------------------------------------------------


def _is_authenticated(request: HttpRequest) -> bool:
    """From the session alone when it can tell (no user row: see ``session_login``), else ``request.user``."""
    decided = session_login(request) if hasattr(request, "session") else None
    if decided is not None:
        return decided
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


async def _ais_authenticated(request: HttpRequest) -> bool:
    decided = await asession_login(request) if hasattr(request, "session") else None
    if decided is not None:
        return decided
    auser = getattr(request, "auser", None)
    if auser is None:
        return await sync_to_async(_is_authenticated)(request)
    user = await auser()
    return bool(user.is_authenticated)


def _end_session(request: HttpRequest) -> None:
    logout(request)


async def _aend_session(request: HttpRequest) -> None:
    await alogout(request)


def _lock_key(grant: UserToken) -> str:
    """One lock per refresh token: whoever holds the same refresh token waits for the
    same refresh, whatever the session key looks like (with ``signed_cookies`` it
    changes on every save), and whichever resource or scope it asks for. Only a
    digest reaches the cache."""
    digest = hashlib.sha256(str(grant.refresh_token).encode()).hexdigest()
    return f"bff:refresh-lock:{digest}"


def _refresh_data(token: UserToken, parameters: UserTokenRequestParameters) -> dict[str, str]:
    data = {str(k): str(v) for k, v in parameters.context.items()}
    data.update({"grant_type": "refresh_token", "refresh_token": token.refresh_token or ""})
    if parameters.scope:
        data["scope"] = parameters.scope
    resource = parameters.resource or token.resource
    if resource:
        data["resource"] = resource
    return data


def _storage_guarded(flow: _Flow, what: str) -> _Flow:
    """Run ``flow``; a cache or storage outage anywhere in it answers ``storage_unavailable``."""
    try:
        result = yield from flow
    except Exception as e:
        if not is_storage_error(e):
            raise
        storage_unavailable(e, what)  # logs it
        return TokenResult(error=TokenError.STORAGE_UNAVAILABLE, retry_after=int(bff_settings.RETRY_AFTER))
    return result


_window_clamp_logged = False


def _needs_refresh(token: UserToken | ClientToken, before: float) -> bool:
    """``token.needs_refresh(before)``, noting once per process when its lifetime shortens the window."""
    global _window_clamp_logged
    window = token.refresh_window(before)
    if window < before and not _window_clamp_logged:
        _window_clamp_logged = True
        logger.info(
            "tokens live %.0f s, less than twice REFRESH_BEFORE_EXPIRATION (%.0f s): renewed at half their lifetime",
            token.lifetime() or 0,
            before,
        )
    return token.needs_refresh(before)


# --- in doubt ----------------------------------------------------------------------------------


def _in_doubt_key(grant: UserToken) -> str:
    return _lock_key(grant).replace("refresh-lock", "refresh-in-doubt", 1)


def _mark_in_doubt(key: str, seconds: float) -> None:
    """Remember that a refresh with this refresh token may still be acted on, for ``seconds``."""
    try:
        caches[bff_settings.CACHE].set(key, clock.time() + seconds, max(1, math.ceil(seconds)))
    except Exception as e:
        if not is_storage_error(e):
            raise
        logger.warning("could not mark a refresh token in doubt (%s); its lock still guards it", type(e).__name__)


def _in_doubt_for(key: str) -> int | None:
    """Seconds the refresh token stays in doubt, None when it is not."""
    until = caches[bff_settings.CACHE].get(key)
    if not isinstance(until, (int, float)):
        return None
    remaining = until - clock.time()
    return math.ceil(remaining) if remaining > 0 else None


# --- tokens in the worker's memory ---------------------------------------------------------------

_MEMORY_SIZE = 10000
_memory: OrderedDict[tuple[str, str], tuple[UserToken, float]] = OrderedDict()
_memory_lock = threading.Lock()


def _memory_key(request: HttpRequest, parameters: UserTokenRequestParameters) -> tuple[str, str] | None:
    """Where the worker keeps this request's token: by session key and resource (None: it does not)."""
    if float(bff_settings.TOKEN_MEMORY_TTL) <= 0:
        return None
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if not session_key:
        return None  # signed_cookies, or no session yet
    return (session_key, f"{parameters.resource or ''}\x00{parameters.scope or ''}")


def _recall(key: tuple[str, str] | None) -> UserToken | None:
    if key is None:
        return None
    with _memory_lock:
        entry = _memory.get(key)
        if entry is None:
            return None
        if clock.time() - entry[1] > float(bff_settings.TOKEN_MEMORY_TTL):
            del _memory[key]
            return None
        _memory.move_to_end(key)
        return entry[0]


def _remember(key: tuple[str, str] | None, token: UserToken) -> None:
    if key is None:
        return
    with _memory_lock:
        _memory[key] = (token, clock.time())
        _memory.move_to_end(key)
        while len(_memory) > _MEMORY_SIZE:
            _memory.popitem(last=False)


def forget_session_tokens(session_key: str | None) -> None:
    """Drop what this worker keeps in memory for the session ``session_key`` (every resource)."""
    if not session_key:
        return
    with _memory_lock:
        for key in [k for k in _memory if k[0] == session_key]:
            del _memory[key]


@on_reload
def _forget_all() -> None:
    with _memory_lock:
        _memory.clear()


# --- the flow ------------------------------------------------------------------------------


#: The session's own token: no resource, no scope. It holds the grant's refresh token.
_SESSION_TOKEN = UserTokenRequestParameters()


def _is_specific(parameters: UserTokenRequestParameters) -> bool:
    """A token for a resource or a narrower scope, obtained with the session's refresh token."""
    return bool(parameters.resource or parameters.scope)


def _user_token_flow(request: HttpRequest, parameters: UserTokenRequestParameters) -> _Flow:
    authenticated = yield _call(_is_authenticated, _ais_authenticated, request)
    if not authenticated:
        return TokenResult(error=TokenError.NOT_AUTHENTICATED)
    memory = _memory_key(request, parameters)
    if not parameters.force_renewal:
        kept = _recall(memory)
        if kept is not None and not kept.needs_refresh(bff_settings.refresh_before_expiration):
            return TokenResult(token=kept)
    store = get_token_store()
    token = yield _call(store.get_token, store.aget_token, request, parameters)
    if token is not None and not parameters.force_renewal:
        if not _needs_refresh(token, bff_settings.refresh_before_expiration):
            _remember(memory, token)
            return TokenResult(token=token)
    grant = token
    if _is_specific(parameters):
        grant = yield _call(store.get_token, store.aget_token, request, _SESSION_TOKEN)
    if grant is None:
        logger.debug("no stored token for this session")
        return TokenResult(error=TokenError.NO_TOKEN)
    result = yield from _refresh_flow(request, store, token, grant, parameters)
    return result


_TIMED_OUT: Any = object()


def _take_lock(lock: CacheLock, reread: Callable[[], _Flow], kind: str) -> _Flow:
    """Single flight: wait (bounded by ``REFRESH_LOCK_WAIT``) until ``lock`` is ours.

    Returns None once the lock is held; while waiting, ``reread`` looks for the
    result another worker produced and, when it yields one, that is returned
    instead (the lock is then not ours); ``_TIMED_OUT`` after the wait.
    ``kind`` (``user``, ``client``) labels the wait in the metrics.
    """
    started = time.monotonic()
    deadline = started + float(bff_settings.REFRESH_LOCK_WAIT)
    delay = _FIRST_POLL
    while True:
        acquired = yield _call(lock.acquire, lock.aacquire)
        if acquired:
            _waited(kind, "acquired", started)
            return None
        if time.monotonic() >= deadline:
            logger.warning("gave up waiting for another worker's token request")
            _waited(kind, "timeout", started)
            telemetry.record("bff.refresh_lock.timeouts", {"bff.token.kind": kind})
            return _TIMED_OUT
        yield _Sleep(delay)
        # A refresh takes a provider's round trip: look often at first, then less and less.
        if time.monotonic() - started > _QUICK_POLLING:
            delay = min(delay * 2, 0.2)
        outcome = yield from reread()
        if outcome is not None:
            _waited(kind, "joined", started)
            return outcome


#: Waiting for another worker's token request: every 10 ms for its first 2 seconds, then backing off to 200 ms.
_FIRST_POLL = 0.01
_QUICK_POLLING = 2.0
#: While waiting, how often to look for the in-doubt marker.
_DOUBT_POLL = 0.1


def _waited(kind: str, outcome: str, started: float) -> None:
    attributes = {"bff.token.kind": kind, "bff.outcome": outcome}
    telemetry.observe("bff.refresh_lock.wait.duration", time.monotonic() - started, attributes)


def _joined(kind: str) -> None:
    """A call served by another worker's token request (single flight at work)."""
    telemetry.record("bff.single_flight.joins", {"bff.token.kind": kind})


def _refreshed(outcome: str) -> None:
    telemetry.record("bff.token.refreshes", {"bff.outcome": outcome})


def _fresh_enough(candidate: UserToken | ClientToken | None, seen: UserToken | ClientToken | None) -> bool:
    """True when another worker stored a new token since we read ``seen``."""
    if candidate is None or candidate.needs_refresh(0):
        return False
    return seen is None or candidate.access_token != seen.access_token


def _failed(request: HttpRequest, error: TokenError, retry_after: int | None = None) -> _Flow:
    yield _call(
        token_refresh_failed.send,
        token_refresh_failed.asend,
        sender=UserToken,
        request=request,
        error=error,
        transient=error.transient,
    )
    return TokenResult(error=error, retry_after=retry_after if error.transient else None)


def _refresh_flow(
    request: HttpRequest,
    store: UserTokenStore,
    token: UserToken | None,
    grant: UserToken,
    parameters: UserTokenRequestParameters,
) -> _Flow:
    """Refresh with the session's refresh token, one worker at a time per refresh token.

    ``token`` is the stored token asked for (None when a resource or scope has none
    yet), ``grant`` the session's own token, whose refresh token is used. Every
    token of a session comes from one grant, so there is one refresh token to
    rotate, kept with the session's token only: two copies would be one too many
    with a provider that revokes the grant when a rotated token is used again.
    """
    if not grant.refresh_token:
        logger.debug("token needs renewal but the session has no refresh token")
        result = yield from _failed(request, TokenError.NO_TOKEN)
        return result
    specific = _is_specific(parameters)

    def in_doubt(refresh_grant: UserToken) -> _Flow:
        seconds = yield _call(_in_doubt_for, None, _in_doubt_key(refresh_grant))
        if seconds is None:
            return None
        logger.info("the refresh token is in doubt for %d s; not refreshing", seconds)
        result = yield from _failed(request, TokenError.TOKEN_SERVICE_UNAVAILABLE, seconds)
        return result

    doubt_checked = [0.0]

    def reread() -> _Flow:
        current_grant = yield _call(store.get_token, store.aget_token, request, _SESSION_TOKEN)
        if current_grant is None:
            return TokenResult(error=TokenError.SESSION_EXPIRED)
        current = current_grant
        if specific:
            current = yield _call(store.get_token, store.aget_token, request, parameters)
        if _fresh_enough(current, token):
            logger.debug("another worker refreshed the token; using it")
            _joined("user")
            return TokenResult(token=current)
        # The in-doubt marker appears only when a holder gives up (after its deadline): looking
        # for it every 100 ms is soon enough, and spares the cache while many calls wait.
        if time.monotonic() - doubt_checked[0] < _DOUBT_POLL:
            return None
        doubt_checked[0] = time.monotonic()
        outcome = yield from in_doubt(current_grant)
        return outcome

    outcome = yield from in_doubt(grant)
    if outcome is not None:
        return outcome

    for _attempt in range(5):
        lock = CacheLock(caches[bff_settings.CACHE], _lock_key(grant), float(bff_settings.REFRESH_LOCK_TIMEOUT))
        outcome = yield from _take_lock(lock, reread, "user")
        if outcome is _TIMED_OUT:
            result = yield from _failed(request, TokenError.REFRESH_LOCK_TIMEOUT, int(bff_settings.RETRY_AFTER))
            return result
        if outcome is not None:
            return outcome
        current_grant = yield _call(store.get_token, store.aget_token, request, _SESSION_TOKEN)
        if current_grant is not None and current_grant.refresh_token != grant.refresh_token:
            # Rotated while we waited: the new refresh token has a lock of its own,
            # and whoever holds it may be using it right now. Start again under it.
            yield _call(lock.release, lock.arelease)
            grant = current_grant
            outcome = yield from reread()
            if outcome is not None:
                return outcome
            continue
        break
    else:
        result = yield from _failed(request, TokenError.REFRESH_LOCK_TIMEOUT, int(bff_settings.RETRY_AFTER))
        return result

    keep_lock = False
    try:
        outcome = yield from reread()  # a refresh may have finished just before the lock was ours
        if outcome is not None:
            return outcome
        grant = yield _call(store.get_token, store.aget_token, request, _SESSION_TOKEN)
        assert grant is not None  # reread() answered SESSION_EXPIRED otherwise
        logger.debug("refreshing the access token")
        sent_at = clock.now()  # expires_in counts from about when the provider got the request
        try:
            response = yield _Call(
                oauth.token_request, None, (_refresh_data(grant, parameters),), thread_sensitive=False
            )
        except TokenRequestRejected as e:
            if e.error == "invalid_grant":
                _refreshed("invalid_grant")
                forget_session_tokens(getattr(request.session, "session_key", None))
                logger.info("refresh token rejected (invalid_grant); ending the session")
                yield _call(store.clear_token, store.aclear_token, request, parameters)
                yield _call(_end_session, _aend_session, request)
                result = yield from _failed(request, TokenError.SESSION_EXPIRED)
                return result
            _refreshed("error")
            result = yield from _failed(request, TokenError.TOKEN_SERVICE_ERROR)
            return result
        except TokenServiceUnavailable as e:
            _refreshed("transient")
            retry_after = e.retry_after or int(bff_settings.RETRY_AFTER)
            if e.in_doubt:
                # The provider may still act on it: keep the lock until it expires, and say so.
                keep_lock = True
                seconds = lock.remaining()
                yield _call(_mark_in_doubt, None, _in_doubt_key(grant), seconds)
                retry_after = max(1, math.ceil(seconds))
                logger.warning("refresh without a complete answer: its refresh token is in doubt for %d s", retry_after)
            result = yield from _failed(request, TokenError.TOKEN_SERVICE_UNAVAILABLE, retry_after)
            return result
        except TokenServiceError:
            _refreshed("error")
            result = yield from _failed(request, TokenError.TOKEN_SERVICE_ERROR)
            return result
        _refreshed("ok")

        rotated = response.get("refresh_token")
        if specific:
            new = UserToken.from_token_response(
                {**response, "refresh_token": None, "id_token": None},
                client_id=grant.client_id,
                resource=parameters.resource,
                now=sent_at,
            )
            if new.scope is None and parameters.scope:
                new = dataclasses.replace(new, scope=parameters.scope)
            writes = [(new, parameters)]
            if rotated:
                writes.append((dataclasses.replace(grant, refresh_token=rotated), _SESSION_TOKEN))
        else:
            new = UserToken.from_token_response(response, previous=grant, now=sent_at)
            writes = [(new, _SESSION_TOKEN)]
        try:
            for value, where in writes:
                yield _call(store.store_token, store.astore_token, request, value, where)
        except TokenStoreConflict:
            newer = yield _call(store.get_token, store.aget_token, request, parameters)
            return TokenResult(token=newer) if newer else TokenResult(error=TokenError.SESSION_EXPIRED)
        _remember(_memory_key(request, parameters), new)
        # Whoever waits for this refresh must find the new tokens when the lock is theirs:
        # inside a database transaction, that is once it commits.
        keep_lock = True
        yield _call(store.on_tokens_visible, None, request, lock.release)
        yield _call(
            token_refreshed.send, token_refreshed.asend, sender=UserToken, request=request, token=new, previous=token
        )
        return TokenResult(token=new)
    finally:
        if not keep_lock:
            yield _call(lock.release, lock.arelease)


# --- public API -----------------------------------------------------------------------------


_PLAIN = UserTokenRequestParameters()


def _kept(request: HttpRequest, parameters: UserTokenRequestParameters) -> UserToken | None:
    """The straight line of the hot path: a token in memory that needs no refresh (no flow, no I/O)."""
    if parameters.force_renewal:
        return None
    kept = _recall(_memory_key(request, parameters))
    if kept is None or kept.needs_refresh(bff_settings.refresh_before_expiration):
        return None
    return kept


def _logged_in_for_sure(request: HttpRequest) -> bool:
    """True when the session proves the login; anything else (or an outage) is the flow's to answer."""
    try:
        return hasattr(request, "session") and session_login(request) is True
    except Exception as e:
        if is_storage_error(e):
            return False
        raise


async def _alogged_in_for_sure(request: HttpRequest) -> bool:
    try:
        return hasattr(request, "session") and await asession_login(request) is True
    except Exception as e:
        if is_storage_error(e):
            return False
        raise


def get_user_access_token(request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> TokenResult:
    """The current user's access token, refreshed when needed. Never raises for protocol errors."""
    parameters = parameters or _PLAIN
    kept = _kept(request, parameters)
    if kept is not None and _logged_in_for_sure(request):
        return TokenResult(token=kept)
    flow = _user_token_flow(request, parameters)
    result: TokenResult = _run_sync(_storage_guarded(flow, "user token"))
    return result


async def aget_user_access_token(
    request: HttpRequest, parameters: UserTokenRequestParameters | None = None
) -> TokenResult:
    """Async twin of :func:`get_user_access_token`."""
    parameters = parameters or _PLAIN
    kept = _kept(request, parameters)
    if kept is not None and await _alogged_in_for_sure(request):
        return TokenResult(token=kept)
    flow = _user_token_flow(request, parameters)
    result: TokenResult = await _run_async(_storage_guarded(flow, "user token"))
    return result


def _revoke_flow(request: HttpRequest, parameters: UserTokenRequestParameters | None) -> _Flow:
    store = get_token_store()
    token = yield _call(store.get_token, store.aget_token, request, parameters)
    if token is None or not token.refresh_token:
        return False
    revoked = yield _Call(oauth.revoke, None, (token.refresh_token, "refresh_token"), thread_sensitive=False)
    return bool(revoked)


def revoke_refresh_token(request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> bool:
    """Revoke the session's refresh token at the provider (RFC 7009), best effort.

    True when the provider confirmed. The stored tokens are left alone: logout
    clears them afterwards.
    """
    return bool(_run_sync(_revoke_flow(request, parameters)))


async def arevoke_refresh_token(request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> bool:
    """Async twin of :func:`revoke_refresh_token`."""
    return bool(await _run_async(_revoke_flow(request, parameters)))


# --- client credentials ---------------------------------------------------------------------------


def _client_cache_key(name: str, scope: str | None, resource: str | None) -> str:
    # The key covers everything that changes the token: never serve one scope's token for another.
    digest = hashlib.sha256(f"{name}\x00{scope or ''}\x00{resource or ''}".encode()).hexdigest()
    return f"bff:client-token:{digest}"


#: Other modules import these from here.
_encode_client_token = encode_client_token
_decode_client_token = decode_client_token


def _cache_client_token(cache: Any, key: str, value: str, timeout: int) -> None:
    """Cache a new client token; a cache that is down costs the next call a token request, not this one."""
    try:
        cache.set(key, value, timeout)
    except Exception as e:
        if not is_storage_error(e):
            raise
        logger.warning("could not cache a client token (%s)", type(e).__name__)


def _client_token_flow(name: str, scope: str | None, resource: str | None, force_renewal: bool) -> _Flow:
    client = get_client(name)  # BFFImproperlyConfigured for an unknown name: a bug, not a protocol error
    scope = scope if scope is not None else client.scope
    resource = resource if resource is not None else client.resource
    cache = caches[bff_settings.CACHE]
    key = _client_cache_key(name, scope, resource)
    before = bff_settings.refresh_before_expiration
    seen = _decode_client_token((yield _call(cache.get, cache.aget, key)))
    if seen is not None and not force_renewal and not _needs_refresh(seen, before):
        telemetry.record("bff.client_token.cache", {"bff.cache.result": "hit"})
        return TokenResult(token=seen)
    telemetry.record("bff.client_token.cache", {"bff.cache.result": "miss"})

    def reread() -> _Flow:
        current = _decode_client_token((yield _call(cache.get, cache.aget, key)))
        if current is not None and _fresh_enough(current, seen if force_renewal else None):
            if not current.needs_refresh(before):
                _joined("client")
                return TokenResult(token=current)
        return None

    lock = CacheLock(cache, key + ":lock", float(bff_settings.REFRESH_LOCK_TIMEOUT))
    outcome = yield from _take_lock(lock, reread, "client")
    if outcome is _TIMED_OUT:
        return TokenResult(error=TokenError.REFRESH_LOCK_TIMEOUT, retry_after=int(bff_settings.RETRY_AFTER))
    if outcome is not None:
        return outcome
    try:
        outcome = yield from reread()  # another worker may have finished just before we took the lock
        if outcome is not None:
            return outcome
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        if resource:
            data["resource"] = resource
        sent_at = clock.now()
        try:
            response = yield _Call(oauth.token_request, None, (data,), {"client": client}, thread_sensitive=False)
        except TokenServiceUnavailable as e:
            return TokenResult(
                error=TokenError.TOKEN_SERVICE_UNAVAILABLE, retry_after=e.retry_after or int(bff_settings.RETRY_AFTER)
            )
        except TokenServiceError:
            return TokenResult(error=TokenError.TOKEN_SERVICE_ERROR)
        token = ClientToken(
            access_token=response["access_token"],
            access_token_type=str(response.get("token_type") or "Bearer"),
            expires_at=expires_at_from_response(response, sent_at),
            scope=response.get("scope") or scope,
            issued_at=sent_at,
        )
        remaining = token.expires_in()
        lifetime = None if remaining is None else int(remaining - token.refresh_window(before))
        if lifetime is None or lifetime > 0:
            # Unknown expiry: kept for REFRESH_LOCK_TIMEOUT only; a 401 renews it.
            timeout = lifetime if lifetime is not None else int(bff_settings.REFRESH_LOCK_TIMEOUT)
            yield _call(_cache_client_token, None, cache, key, _encode_client_token(token), timeout)
        return TokenResult(token=token)
    finally:
        yield _call(lock.release, lock.arelease)


def get_client_access_token(
    name: str = "default", *, scope: str | None = None, resource: str | None = None, force_renewal: bool = False
) -> TokenResult:
    """An application token from the client-credentials grant, cached until shortly before it expires.

    ``name`` is a client of ``BFF["CLIENTS"]``; ``"default"``, unless defined
    there, is the OIDC client itself (mozilla-django-oidc's client id and secret,
    the provider's token endpoint). ``scope`` and ``resource`` default to the
    client's ``SCOPE`` and ``RESOURCE``. The cache (``BFF["CACHE"]``) is
    keyed by client, scope and resource; failures are never cached; one token
    request per key at a time, across threads and processes.
    """
    flow = _client_token_flow(name, scope, resource, force_renewal)
    result: TokenResult = _run_sync(_storage_guarded(flow, "client token"))
    return result


async def aget_client_access_token(
    name: str = "default", *, scope: str | None = None, resource: str | None = None, force_renewal: bool = False
) -> TokenResult:
    """Async twin of :func:`get_client_access_token`."""
    flow = _client_token_flow(name, scope, resource, force_renewal)
    result: TokenResult = await _run_async(_storage_guarded(flow, "client token"))
    return result
