"""User tokens: the store, and the refresh with the session's refresh token.

In the data flow: under the package's entry points, on top of the store
(:mod:`django_bff.stores`), :mod:`.single_flight` and :mod:`django_bff.oauth`.

The package's entry points answer from the worker's memory when they can, and
hand every other call to :func:`stored_token_flow`: read the store; fresh
enough? return it : refresh, once per refresh token (that is, per session:
every token of a session comes from its one grant) at a time across threads
and processes. A refresh (:func:`refresh_flow`) goes:

1. *in doubt?* A refresh whose request may have reached the provider without
   an answer coming back (a timeout, a connection lost after sending) leaves
   its refresh token in doubt: the provider may still rotate it. Nobody
   refreshes with it until the refresh lock, kept by the worker that gave up,
   expires (``BFF["REFRESH_LOCK_TIMEOUT"]`` after it was taken); an in-doubt
   marker in the cache answers the calls in the meantime at once with 503 and
   ``Retry-After``.
2. *the lock* of the session's current refresh token
   (:meth:`Refresh.refresh_lock`): the others wait
   (:func:`.single_flight.take_lock`) and take the token the holder stores; a
   refresh token rotated while waiting has a lock of its own, taken instead.
3. *the request* (:meth:`Refresh.ask`), after reading the store again under the
   lock, with the session's latest refresh token. ``invalid_grant`` ends the
   session; other failures keep the tokens and the session.
   With DPoP, the request carries a proof signed with the session's key
   (``UserToken.dpop_jwk``, kept with the tokens since the login): the new
   token stays bound to that key.
4. *the writes* (:meth:`Refresh.write`): the new token; a rotated refresh
   token goes to the session's own token, and only there (two copies would be
   one too many with a provider that revokes the grant when a rotated token is
   used again). The lock is released once the new tokens are visible to the
   other workers, then ``token_refreshed`` is sent.

Every token-service request ends within ``BACKCHANNEL_CONNECT_TIMEOUT +
BACKCHANNEL_READ_TIMEOUT`` (:func:`django_bff.backchannel.fetch`), which
``django_bff.W004`` keeps shorter than the lock's lifetime.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import alogout, logout
from django.core.cache import caches
from django.dispatch import Signal
from django.http import HttpRequest

from django_bff import oauth, telemetry
from django_bff.clock import clock
from django_bff.conf import bff_settings
from django_bff.exceptions import TokenRequestRejected, TokenServiceError, TokenServiceUnavailable, TokenStoreConflict
from django_bff.faults import is_storage_error
from django_bff.locks import CacheLock, Waited
from django_bff.signals import token_refresh_failed, token_refreshed
from django_bff.stores import UserTokenStore, get_token_store
from django_bff.token_manager.flow import Flow, call, network
from django_bff.token_manager.single_flight import fresh_enough, joined, needs_refresh, take_lock
from django_bff.tokens import TokenError, TokenResult, UserToken, UserTokenRequestParameters

__all__ = [
    "SESSION_TOKEN",
    "SessionMemory",
    "stored_token_flow",
    "refresh_flow",
    "Refresh",
    "revoke_flow",
    "lock_key",
    "in_doubt_key",
    "mark_in_doubt",
    "in_doubt_for",
]

logger = logging.getLogger("django_bff.token_manager")

#: The session's own token: no resource, no scope. It holds the grant's refresh token.
SESSION_TOKEN = UserTokenRequestParameters()
#: While waiting, how often to look for the in-doubt marker.
_DOUBT_POLL = 0.1


def _is_specific(parameters: UserTokenRequestParameters) -> bool:
    """A token for a resource or a narrower scope, obtained with the session's refresh token."""
    return bool(parameters.resource or parameters.scope)


def lock_key(grant: UserToken) -> str:
    """One lock per refresh token: whoever holds the same refresh token waits for the
    same refresh, whatever the session key looks like (with ``signed_cookies`` it
    changes on every save), and whichever resource or scope it asks for. Only a
    digest reaches the cache."""
    digest = hashlib.sha256(str(grant.refresh_token).encode()).hexdigest()
    return f"bff:refresh-lock:{digest}"


def in_doubt_key(grant: UserToken) -> str:
    return lock_key(grant).replace("refresh-lock", "refresh-in-doubt", 1)


def mark_in_doubt(key: str, seconds: float) -> None:
    """Remember that a refresh with this refresh token may still be acted on, for ``seconds``."""
    try:
        caches[bff_settings.CACHE].set(key, clock.time() + seconds, max(1, math.ceil(seconds)))
    except Exception as e:
        if not is_storage_error(e):
            raise
        logger.warning("could not mark a refresh token in doubt (%s); its lock still guards it", type(e).__name__)


def in_doubt_for(key: str) -> int | None:
    """Seconds the refresh token stays in doubt, None when it is not."""
    until = caches[bff_settings.CACHE].get(key)
    if not isinstance(until, (int, float)):
        return None
    remaining = until - clock.time()
    return math.ceil(remaining) if remaining > 0 else None


def _refresh_data(token: UserToken, parameters: UserTokenRequestParameters) -> dict[str, str]:
    data = {str(k): str(v) for k, v in parameters.context.items()}
    data.update({"grant_type": "refresh_token", "refresh_token": token.refresh_token or ""})
    if parameters.scope:
        data["scope"] = parameters.scope
    resource = parameters.resource or token.resource
    if resource:
        data["resource"] = resource
    return data


def _refreshed(outcome: str) -> None:
    telemetry.record("bff.token.refreshes", {"bff.outcome": outcome})


def _end_session(request: HttpRequest) -> None:
    logout(request)


async def _aend_session(request: HttpRequest) -> None:
    await alogout(request)


@dataclass(frozen=True)
class SessionMemory:
    """What the flow tells the worker's memory (kept by the package) about this session."""

    #: A token this flow read fresh or refreshed: it may be answered from memory for a while.
    remember: Callable[[UserToken], None]
    #: The session's tokens are gone.
    forget: Callable[[], None]


def stored_token_flow(
    request: HttpRequest, parameters: UserTokenRequestParameters, memory: SessionMemory
) -> Flow[TokenResult]:
    """The stored token when it needs no renewal, else a refreshed one."""
    store = get_token_store()
    token = yield from call(store.get_token, store.aget_token, request, parameters)
    if token is not None and not parameters.force_renewal:
        if not needs_refresh(token, bff_settings.refresh_before_expiration):
            memory.remember(token)
            return TokenResult(token=token)
    grant = token
    if _is_specific(parameters):
        grant = yield from call(store.get_token, store.aget_token, request, SESSION_TOKEN)
    if grant is None:
        logger.debug("no stored token for this session")
        return TokenResult(error=TokenError.NO_TOKEN)
    return (yield from refresh_flow(Refresh(request, store, token, parameters, memory), grant))


def refresh_flow(refresh: Refresh, grant: UserToken) -> Flow[TokenResult]:
    """Refresh with ``grant``'s refresh token (``grant``: the session's own token), one worker at a time."""
    if not grant.refresh_token:
        logger.debug("token needs renewal but the session has no refresh token")
        return (yield from refresh.failed(TokenError.NO_TOKEN))
    doubt = yield from refresh.in_doubt(grant)
    if doubt is not None:
        return doubt
    lock = yield from refresh.refresh_lock(grant)
    if isinstance(lock, TokenResult):
        return lock
    try:
        found = yield from refresh.reread()  # a refresh may have finished just before the lock was ours
        if found is not None:
            return found
        answer = yield from refresh.ask(lock)
        if isinstance(answer, TokenResult):
            return answer
        return (yield from refresh.write(answer, lock))
    finally:
        if not refresh.lock_handed_over:
            yield from call(lock.release, lock.arelease)


@dataclass(frozen=True)
class _Answer:
    """A refresh answered: the token response, the grant it refreshed, when the request was sent."""

    response: dict[str, Any]
    grant: UserToken
    sent_at: datetime


@dataclass
class Refresh:
    """One refresh, in steps; :func:`refresh_flow` runs them."""

    request: HttpRequest
    store: UserTokenStore
    #: The stored token asked for, as first read (None when a resource or scope has none yet).
    token: UserToken | None
    parameters: UserTokenRequestParameters
    memory: SessionMemory
    #: True once the lock is left to another to release: the commit, or its expiry.
    lock_handed_over: bool = False
    doubt_checked_at: float = 0.0

    def read(self, parameters: UserTokenRequestParameters) -> Flow[UserToken | None]:
        return (yield from call(self.store.get_token, self.store.aget_token, self.request, parameters))

    def send(self, signal: Signal, **named: object) -> Flow[object]:
        """Send ``signal`` for this request's user tokens."""
        return (yield from call(signal.send, signal.asend, sender=UserToken, request=self.request, **named))

    def failed(self, error: TokenError, retry_after: int | None = None) -> Flow[TokenResult]:
        """Send ``token_refresh_failed`` and answer ``error``."""
        yield from self.send(token_refresh_failed, error=error, transient=error.transient)
        return TokenResult(error=error, retry_after=retry_after if error.transient else None)

    def in_doubt(self, grant: UserToken) -> Flow[TokenResult | None]:
        """503 while ``grant``'s refresh token is in doubt; else None."""
        seconds = yield from call(in_doubt_for, None, in_doubt_key(grant))
        if seconds is None:
            return None
        logger.info("the refresh token is in doubt for %d s; not refreshing", seconds)
        return (yield from self.failed(TokenError.TOKEN_SERVICE_UNAVAILABLE, seconds))

    def reread(self) -> Flow[TokenResult | None]:
        """What another worker's refresh left in the store (None: nothing yet)."""
        grant = yield from self.read(SESSION_TOKEN)
        if grant is None:
            return TokenResult(error=TokenError.SESSION_EXPIRED)
        current = (yield from self.read(self.parameters)) if _is_specific(self.parameters) else grant
        if fresh_enough(current, self.token):
            logger.debug("another worker refreshed the token; using it")
            joined("user")
            return TokenResult(token=current)
        # The in-doubt marker appears only when a holder gives up (after its deadline): looking
        # for it every 100 ms is soon enough, and spares the cache while many calls wait.
        if time.monotonic() - self.doubt_checked_at < _DOUBT_POLL:
            return None
        self.doubt_checked_at = time.monotonic()
        return (yield from self.in_doubt(grant))

    def refresh_lock(self, grant: UserToken) -> Flow[CacheLock | TokenResult]:
        """The lock of the session's current refresh token, or the answer found while waiting for it."""
        for _attempt in range(5):
            lock = CacheLock(caches[bff_settings.CACHE], lock_key(grant), bff_settings.REFRESH_LOCK_TIMEOUT)
            outcome = yield from take_lock(lock, self.reread, "user")
            if outcome is Waited.TIMED_OUT:
                break
            if isinstance(outcome, TokenResult):
                return outcome
            current = yield from self.read(SESSION_TOKEN)
            if current is None or current.refresh_token == grant.refresh_token:
                return lock
            # Rotated while we waited: the new refresh token has a lock of its own,
            # and whoever holds it may be using it right now. Start again under it.
            yield from call(lock.release, lock.arelease)
            grant = current
            found = yield from self.reread()
            if found is not None:
                return found
        return (yield from self.failed(TokenError.REFRESH_LOCK_TIMEOUT, bff_settings.RETRY_AFTER))

    def ask(self, lock: CacheLock) -> Flow[_Answer | TokenResult]:
        """Send the refresh request with the session's latest refresh token."""
        grant = yield from self.read(SESSION_TOKEN)
        assert grant is not None  # reread() answered SESSION_EXPIRED otherwise
        logger.debug("refreshing the access token")
        sent_at = clock.now()  # expires_in counts from about when the provider got the request
        try:
            # DPoP: the session's key signs the proof, so the new token is bound to the same key.
            data = _refresh_data(grant, self.parameters)
            response = yield from network(
                oauth.token_request, data, dpop_jwk=grant.dpop_jwk, assertion=self.parameters.assertion
            )
        except TokenRequestRejected as e:
            return (yield from self.rejected(e))
        except TokenServiceUnavailable as e:
            return (yield from self.unanswered(e, grant, lock))
        except TokenServiceError:
            _refreshed("error")
            return (yield from self.failed(TokenError.TOKEN_SERVICE_ERROR))
        _refreshed("ok")
        return _Answer(response, grant, sent_at)

    def rejected(self, error: TokenRequestRejected) -> Flow[TokenResult]:
        """``invalid_grant``: the refresh token is dead, and the session ends. Other refusals keep it."""
        if error.error != "invalid_grant":
            _refreshed("error")
            return (yield from self.failed(TokenError.TOKEN_SERVICE_ERROR))
        _refreshed("invalid_grant")
        self.memory.forget()
        logger.info("refresh token rejected (invalid_grant); ending the session")
        yield from call(self.store.clear_token, self.store.aclear_token, self.request, self.parameters)
        yield from call(_end_session, _aend_session, self.request)
        return (yield from self.failed(TokenError.SESSION_EXPIRED))

    def unanswered(self, error: TokenServiceUnavailable, grant: UserToken, lock: CacheLock) -> Flow[TokenResult]:
        """Transient: the tokens stay. Without a complete answer the refresh token is in doubt."""
        _refreshed("transient")
        retry_after = error.retry_after or bff_settings.RETRY_AFTER
        if error.in_doubt:
            # The provider may still act on it: keep the lock until it expires, and say so.
            self.lock_handed_over = True
            seconds = lock.remaining()
            yield from call(mark_in_doubt, None, in_doubt_key(grant), seconds)
            retry_after = max(1, math.ceil(seconds))
            logger.warning("refresh without a complete answer: its refresh token is in doubt for %d s", retry_after)
        return (yield from self.failed(TokenError.TOKEN_SERVICE_UNAVAILABLE, retry_after))

    def write(self, answer: _Answer, lock: CacheLock) -> Flow[TokenResult]:
        """Store the new tokens; whoever waits takes them once visible, when the lock is released."""
        new, writes = _new_tokens(answer, self.parameters)
        try:
            for value, where in writes:
                yield from call(self.store.store_token, self.store.astore_token, self.request, value, where)
        except TokenStoreConflict:
            newer = yield from self.read(self.parameters)
            return TokenResult(token=newer) if newer else TokenResult(error=TokenError.SESSION_EXPIRED)
        self.memory.remember(new)
        # Whoever waits for this refresh must find the new tokens when the lock is theirs:
        # inside a database transaction, that is once it commits.
        self.lock_handed_over = True
        yield from call(self.store.on_tokens_visible, None, self.request, lock.release)
        yield from self.send(token_refreshed, token=new, previous=self.token)
        return TokenResult(token=new)


def _new_tokens(
    answer: _Answer, parameters: UserTokenRequestParameters
) -> tuple[UserToken, list[tuple[UserToken, UserTokenRequestParameters]]]:
    """The token asked for, and the writes: a token for a resource or a narrower scope is kept
    without a refresh token; a rotated one goes to the session's own token."""
    response, grant = answer.response, answer.grant
    if not _is_specific(parameters):
        new = UserToken.from_token_response(response, previous=grant, now=answer.sent_at)
        return new, [(new, SESSION_TOKEN)]
    new = UserToken.from_token_response(
        {**response, "refresh_token": None, "id_token": None},
        client_id=grant.client_id,
        resource=parameters.resource,
        now=answer.sent_at,
    )
    if new.scope is None and parameters.scope:
        new = dataclasses.replace(new, scope=parameters.scope)
    if grant.dpop_jwk:
        new = dataclasses.replace(new, dpop_jwk=grant.dpop_jwk)  # bound to the session's key too
    writes = [(new, parameters)]
    rotated = response.get("refresh_token")
    if rotated:
        writes.append((dataclasses.replace(grant, refresh_token=rotated), SESSION_TOKEN))
    return new, writes


def revoke_flow(request: HttpRequest, parameters: UserTokenRequestParameters | None) -> Flow[bool]:
    """Revoke the stored refresh token at the provider; True when it confirmed."""
    store = get_token_store()
    token = yield from call(store.get_token, store.aget_token, request, parameters)
    if token is None or not token.refresh_token:
        return False
    return bool((yield from network(oauth.revoke, token.refresh_token, "refresh_token")))
