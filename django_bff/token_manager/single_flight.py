"""Single flight: one token request per key at a time, across threads and processes.

In the data flow: under :mod:`.user` and :mod:`.client`, on top of the lock
(:mod:`django_bff.locks`) and the cache.

Whoever needs a token that is missing or due for renewal takes a lock in the
Django cache (``BFF["CACHE"]``, Redis in production); the others wait for it,
at most ``BFF["REFRESH_LOCK_WAIT"]`` seconds (then ``refresh_lock_timeout``),
trying the lock every 10 ms for the first 2 seconds and then backing off to
200 ms, and looking between tries for the token the holder produced: a call
that finds it is served by the holder's request (a *join*).
:func:`take_lock` is that wait, for the user tokens' refresh (:mod:`.user`)
as for the application tokens below.

:func:`cached_token_flow` is the whole single flight of an application token,
one the cache keeps for everybody, encrypted (:mod:`django_bff.codecs`), until
its refresh window opens: client-credentials tokens and exchanged tokens
(:mod:`.client` says what to ask for). Read the cache; on a miss take the lock,
read again, send the token request, cache the answer, release. Failures are
never cached.

With DPoP (the client's ``dpop_options``), each application token is bound
to a key kept in its cache entry, encrypted with it; a renewal reuses the key
of the entry it replaces, else makes one (:func:`django_bff.dpop.new_key`).

Expiry counts from when the token request was sent; a token is renewed
``BFF["REFRESH_BEFORE_EXPIRATION"]`` seconds before it expires, or at half
its lifetime when that comes first (:func:`needs_refresh`, logged once per
process).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.cache import BaseCache, caches

from django_bff import oauth, telemetry
from django_bff.clients import ClientConfig, dpop_options
from django_bff.clock import clock
from django_bff.codecs import decode_client_token, encode_client_token
from django_bff.conf import bff_settings
from django_bff.dpop import new_key
from django_bff.exceptions import TokenServiceError, TokenServiceUnavailable
from django_bff.faults import is_storage_error
from django_bff.locks import CacheLock, Polling, Waited
from django_bff.token_manager.flow import Flow, Wait, call, network
from django_bff.tokens import ClientToken, TokenError, TokenResult, UserToken, expires_at_from_response

__all__ = [
    "TOKEN_POLLING",
    "take_lock",
    "joined",
    "fresh_enough",
    "needs_refresh",
    "CachedTokenRequest",
    "cached_token_flow",
]

logger = logging.getLogger("django_bff.token_manager")

#: Waiting for another worker's token request: a refresh takes a provider's round trip,
#: so look often at first (every 10 ms for 2 seconds), then less and less (up to 200 ms).
TOKEN_POLLING = Polling(first=0.01, steady=2.0, longest=0.2)


def take_lock(lock: CacheLock, reread: Callable[[], Flow[TokenResult | None]], kind: str) -> Flow[Waited | TokenResult]:
    """Wait (at most ``REFRESH_LOCK_WAIT``) until ``lock`` is ours.

    :attr:`Waited.ACQUIRED` once the lock is held; the result ``reread`` finds
    between tries (another worker's token: the lock is then not ours);
    :attr:`Waited.TIMED_OUT` after the wait. ``kind`` (``user``, ``client``,
    ``exchange``) labels the wait in the metrics.
    """
    started = time.monotonic()
    outcome = yield from Wait(lock, bff_settings.REFRESH_LOCK_WAIT, TOKEN_POLLING, reread)
    if outcome is Waited.ACQUIRED:
        ending = "acquired"
    elif outcome is Waited.TIMED_OUT:
        ending = "timeout"
        logger.warning("gave up waiting for another worker's token request")
        telemetry.record("bff.refresh_lock.timeouts", {"bff.token.kind": kind})
    else:
        ending = "joined"
    attributes = {"bff.token.kind": kind, "bff.outcome": ending}
    telemetry.observe("bff.refresh_lock.wait.duration", time.monotonic() - started, attributes)
    return outcome


def joined(kind: str) -> None:
    """A call served by another worker's token request (single flight at work)."""
    telemetry.record("bff.single_flight.joins", {"bff.token.kind": kind})


def fresh_enough(candidate: UserToken | ClientToken | None, seen: UserToken | ClientToken | None) -> bool:
    """True when another worker stored a new token since we read ``seen``."""
    if candidate is None or candidate.needs_refresh(0):
        return False
    return seen is None or candidate.access_token != seen.access_token


_window_clamp_logged = False


def needs_refresh(token: UserToken | ClientToken, before: float) -> bool:
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


# --- application tokens the cache keeps -------------------------------------------------------------


@dataclass(frozen=True)
class CachedTokenRequest:
    """An application token the cache keeps: where, and how to ask for it."""

    #: ``client`` or ``exchange``: labels logs and metrics.
    kind: str
    #: The cache key (a digest of everything that changes the token); the lock is ``key + ":lock"``.
    key: str
    #: The token request's form, and the client that authenticates it.
    data: dict[str, str] = field(repr=False)
    client: ClientConfig
    #: The token's scope when the answer names none.
    scope: str | None = None
    #: An answer without ``expires_in``: kept for ``REFRESH_LOCK_TIMEOUT`` seconds (a 401
    #: renews it), or not kept at all.
    keep_unknown_expiry: bool = True
    #: Counts cache hits and misses (``bff.cache.result``), when set.
    cache_metric: str | None = None


def cached_token_flow(request: CachedTokenRequest, force_renewal: bool = False) -> Flow[TokenResult]:
    """The cached token when it needs no renewal, else one token request at a time for its key."""
    cache = caches[bff_settings.CACHE]
    before = bff_settings.refresh_before_expiration
    seen = decode_client_token((yield from call(cache.get, cache.aget, request.key)))
    if seen is not None and not force_renewal and not needs_refresh(seen, before):
        _count(request, "hit")
        return TokenResult(token=seen)
    _count(request, "miss")

    def reread() -> Flow[TokenResult | None]:
        current = decode_client_token((yield from call(cache.get, cache.aget, request.key)))
        if current is not None and fresh_enough(current, seen if force_renewal else None):
            if not current.needs_refresh(before):
                joined(request.kind)
                return TokenResult(token=current)
        return None

    lock = CacheLock(cache, request.key + ":lock", bff_settings.REFRESH_LOCK_TIMEOUT)
    outcome = yield from take_lock(lock, reread, request.kind)
    if outcome is Waited.TIMED_OUT:
        return TokenResult(error=TokenError.REFRESH_LOCK_TIMEOUT, retry_after=bff_settings.RETRY_AFTER)
    if isinstance(outcome, TokenResult):
        return outcome
    try:
        found = yield from reread()  # another worker may have finished just before we took the lock
        if found is not None:
            return found
        return (yield from _request(request, cache, before, seen.dpop_jwk if seen else None))
    finally:
        yield from call(lock.release, lock.arelease)


def _count(request: CachedTokenRequest, result: str) -> None:
    if request.cache_metric is not None:
        telemetry.record(request.cache_metric, {"bff.cache.result": result})


def _request(
    request: CachedTokenRequest, cache: BaseCache, before: float, previous_key: str | None
) -> Flow[TokenResult]:
    """Ask the token service, and cache what it answers until the token's refresh window opens."""
    options = dpop_options(request.client)
    key = (previous_key or new_key(options.algorithm)) if options is not None else None
    sent_at = clock.now()
    try:
        response = yield from network(oauth.token_request, request.data, client=request.client, dpop_jwk=key)
    except TokenServiceUnavailable as e:
        retry_after = e.retry_after or bff_settings.RETRY_AFTER
        return TokenResult(error=TokenError.TOKEN_SERVICE_UNAVAILABLE, retry_after=retry_after)
    except TokenServiceError:
        return TokenResult(error=TokenError.TOKEN_SERVICE_ERROR)
    token = ClientToken(
        access_token=response["access_token"],
        access_token_type=str(response.get("token_type") or "Bearer"),
        expires_at=expires_at_from_response(response, sent_at),
        scope=response.get("scope") or request.scope,
        dpop_jwk=key,
        issued_at=sent_at,
    )
    timeout = _cache_lifetime(token, before, request.keep_unknown_expiry)
    if timeout is not None:
        yield from call(_cache_token, None, cache, request, encode_client_token(token), timeout)
    return TokenResult(token=token)


def _cache_lifetime(token: ClientToken, before: float, keep_unknown_expiry: bool) -> int | None:
    """Whole seconds until ``token``'s refresh window opens (None: not worth caching)."""
    remaining = token.expires_in()
    if remaining is None:
        return int(bff_settings.REFRESH_LOCK_TIMEOUT) if keep_unknown_expiry else None
    lifetime = int(remaining - token.refresh_window(before))
    return lifetime if lifetime > 0 else None


def _cache_token(cache: BaseCache, request: CachedTokenRequest, value: str, timeout: int) -> None:
    """Cache a new token; a cache that is down costs the next call a token request, not this one."""
    try:
        cache.set(request.key, value, timeout)
    except Exception as e:
        if not is_storage_error(e):
            raise
        logger.warning("could not cache a %s token (%s)", request.kind, type(e).__name__)
