"""Getting, refreshing and revoking user tokens; client-credentials tokens.

In the data flow: below the retrievers and the auth objects
(:mod:`django_bff.http`), above the stores, the locks and the back-channel.

:func:`get_user_access_token` reads the store and returns the token when it is
fresh enough. Within ``BFF["REFRESH_BEFORE_EXPIRATION"]`` seconds of expiry (or
with ``force_renewal``) it refreshes, once per refresh token (that is, per
session: every token of a session comes from its one grant) at a time across
threads and processes: the refresher holds a lock in the Django cache
(``BFF["CACHE"]``, Redis in production), re-reads the store after taking it, and
the others wait (at most ``BFF["REFRESH_LOCK_WAIT"]`` seconds) for the token it
stores. This matters: a provider that rotates refresh tokens revokes the whole
grant when one refresh token is used twice. A refresh token whose refresh got
no answer is *in doubt* until its lock expires: calls are answered 503 with
``Retry-After`` in the meantime. :func:`get_client_access_token` keeps
client-credentials tokens in the cache, one token request per client, scope
and resource at a time.

A token that needs no refresh is also kept in the worker's memory for
``BFF["TOKEN_MEMORY_TTL"]`` seconds (10 by default; 0: never), per session key
and resource, so that most calls read only the session: the store is read again
after that, before any refresh (which always reads the store), and at once
after a refresh or a logout in this process. Another worker's refresh or logout
is seen within that time; a logout also ends the session, which is read on
every call.

When the cache or the token storage cannot be reached the answer is
``storage_unavailable`` (503 for the browser), never an exception.

This package holds the entry points and the straight line of the hot path (a
token in memory, a session that proves the login: no flow, no I/O but the
session); the worker's memory itself is :mod:`django_bff.token_memory`, below
the stores, which forget a session's tokens there when they change. The rest is written once as flows, run by a
sync driver and an async one, so both behave the same:

* :mod:`.flow`: the typed operations a flow yields, and the two drivers;
* :mod:`.user`: the user's tokens from the store, and the refresh;
* :mod:`.single_flight`: waiting for another worker's token request, and the
  application tokens the cache keeps;
* :mod:`.client`: client-credentials and exchanged tokens.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.http import HttpRequest

from django_bff.codecs import decode_client_token, encode_client_token
from django_bff.conf import bff_settings
from django_bff.faults import is_storage_error
from django_bff.sessions import asession_login, session_login
from django_bff.token_manager import client, user
from django_bff.token_manager.flow import Flow, call, run_async, run_sync, storage_guarded
from django_bff.token_memory import forget_session_tokens, memory_key, recall, remember
from django_bff.tokens import TokenError, TokenResult, UserToken, UserTokenRequestParameters

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

# Other modules and tests import these from here (the package was one module).
_client_cache_key = client.client_cache_key
_encode_client_token = encode_client_token
_decode_client_token = decode_client_token
_lock_key = user.lock_key
_in_doubt_key = user.in_doubt_key
_in_doubt_for = user.in_doubt_for
_mark_in_doubt = user.mark_in_doubt


# --- who is asking ---------------------------------------------------------------------------------


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


# --- user tokens ---------------------------------------------------------------------------------


_PLAIN = UserTokenRequestParameters()


def _session_key(request: HttpRequest) -> str | None:
    return getattr(getattr(request, "session", None), "session_key", None)


def _kept(request: HttpRequest, parameters: UserTokenRequestParameters) -> UserToken | None:
    """The straight line of the hot path: a token in memory that needs no refresh (no flow, no I/O)."""
    if parameters.force_renewal:
        return None
    kept = recall(memory_key(_session_key(request), parameters))
    if kept is None or kept.needs_refresh(bff_settings.refresh_before_expiration):
        return None
    return kept


def _user_token_flow(request: HttpRequest, parameters: UserTokenRequestParameters) -> Flow[TokenResult]:
    """Who is asking, then the worker's memory, then the store and a refresh (:mod:`.user`)."""
    authenticated = yield from call(_is_authenticated, _ais_authenticated, request)
    if not authenticated:
        return TokenResult(error=TokenError.NOT_AUTHENTICATED)
    kept = _kept(request, parameters)
    if kept is not None:
        return TokenResult(token=kept)
    key = memory_key(_session_key(request), parameters)
    memory = user.SessionMemory(
        remember=lambda token: remember(key, token),
        forget=lambda: forget_session_tokens(_session_key(request)),
    )
    return (yield from user.stored_token_flow(request, parameters, memory))


def get_user_access_token(request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> TokenResult:
    """The current user's access token, refreshed when needed. Never raises for protocol errors."""
    parameters = parameters or _PLAIN
    kept = _kept(request, parameters)
    if kept is not None and _logged_in_for_sure(request):
        return TokenResult(token=kept)
    return run_sync(storage_guarded(_user_token_flow(request, parameters), "user token"))


async def aget_user_access_token(
    request: HttpRequest, parameters: UserTokenRequestParameters | None = None
) -> TokenResult:
    """Async twin of :func:`get_user_access_token`."""
    parameters = parameters or _PLAIN
    kept = _kept(request, parameters)
    if kept is not None and await _alogged_in_for_sure(request):
        return TokenResult(token=kept)
    return await run_async(storage_guarded(_user_token_flow(request, parameters), "user token"))


def revoke_refresh_token(request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> bool:
    """Revoke the session's refresh token at the provider (RFC 7009), best effort.

    True when the provider confirmed. The stored tokens are left alone: logout
    clears them afterwards.
    """
    return run_sync(user.revoke_flow(request, parameters))


async def arevoke_refresh_token(request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> bool:
    """Async twin of :func:`revoke_refresh_token`."""
    return await run_async(user.revoke_flow(request, parameters))


# --- client credentials ---------------------------------------------------------------------------


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
    flow = client.client_token_flow(name, scope, resource, force_renewal)
    return run_sync(storage_guarded(flow, "client token"))


async def aget_client_access_token(
    name: str = "default", *, scope: str | None = None, resource: str | None = None, force_renewal: bool = False
) -> TokenResult:
    """Async twin of :func:`get_client_access_token`."""
    flow = client.client_token_flow(name, scope, resource, force_renewal)
    return await run_async(storage_guarded(flow, "client token"))
