"""Application tokens: client credentials, and tokens obtained by token exchange.

In the data flow: under the package's entry points and the exchange retriever,
on top of :mod:`.single_flight`; the requests go through
:mod:`django_bff.oauth`.

Both are tokens the cache keeps for everybody, one token request per key at a
time (:func:`.single_flight.cached_token_flow`); this module says what each
one asks for and under which key. The key is a digest of everything that
changes the token, so one scope's token is never served for another.

* :func:`client_token_flow`: the client-credentials grant of a client of
  ``BFF["CLIENTS"]`` (``"default"``: the OIDC client), per client, scope and
  resource; behind :func:`django_bff.token_manager.get_client_access_token`.
* :func:`exchange_token`: token exchange (RFC 8693) for
  :class:`django_bff.retrievers.TokenExchangeAccessTokenRetriever`, per
  subject token, audience, resource, scope and client. An answer without
  ``expires_in`` is not cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from django_bff.clients import get_client
from django_bff.token_manager.flow import Flow, run_sync, storage_guarded
from django_bff.token_manager.single_flight import CachedTokenRequest, cached_token_flow
from django_bff.tokens import TokenResult

__all__ = ["client_cache_key", "client_token_flow", "exchange_cache_key", "exchange_token"]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def client_cache_key(name: str, scope: str | None, resource: str | None) -> str:
    return "bff:client-token:" + _digest(name, scope or "", resource or "")


def client_token_flow(name: str, scope: str | None, resource: str | None, force_renewal: bool) -> Flow[TokenResult]:
    """The client-credentials token of client ``name``; ``scope`` and ``resource`` default to the client's."""
    client = get_client(name)  # BFFImproperlyConfigured for an unknown name: a bug, not a protocol error
    scope = scope if scope is not None else client.scope
    resource = resource if resource is not None else client.resource
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    if resource:
        data["resource"] = resource
    request = CachedTokenRequest(
        kind="client",
        key=client_cache_key(name, scope, resource),
        data=data,
        client=client,
        scope=scope,
        cache_metric="bff.client_token.cache",
    )
    return (yield from cached_token_flow(request, force_renewal))


def exchange_cache_key(subject_token: str, data: Mapping[str, str], client: str) -> str:
    """The key of an exchange: the subject token, the form's audience, resource and scope, the client."""
    return "bff:exchange:" + _digest(
        subject_token, data["audience"], data.get("resource", ""), data.get("scope", ""), client
    )


def _exchanged_token_flow(subject_token: str, data: dict[str, str], client: str) -> Flow[TokenResult]:
    request = CachedTokenRequest(
        kind="exchange",
        key=exchange_cache_key(subject_token, data, client),
        data=data,
        client=get_client(client),
        keep_unknown_expiry=False,
    )
    return (yield from cached_token_flow(request))


def exchange_token(subject_token: str, data: dict[str, str], client: str = "default") -> TokenResult:
    """The token the token service gives for ``subject_token`` and the exchange form ``data`` (RFC 8693).

    Cached, and asked for once at a time, per subject token, audience,
    resource, scope and ``client`` (a name of ``BFF["CLIENTS"]``, which
    authenticates the exchange). A refusal answers ``token_service_error``, a
    cache or storage outage ``storage_unavailable``; never raises for protocol
    errors.
    """
    flow = _exchanged_token_flow(subject_token, data, client)
    return run_sync(storage_guarded(flow, "token exchange cache"))
