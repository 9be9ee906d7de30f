"""Application tokens: client credentials.

They are tokens the cache keeps for everybody, one token request per key at a
time (:func:`.single_flight.cached_token_flow`); this module says what each
one asks for and under which key. The key is a digest of everything that
changes the token, so one scope's token is never served for another.

* :func:`client_token_flow`: the client-credentials grant of a client of
  ``BFF["CLIENTS"]`` (``"default"``: the OIDC client), per client, scope and
  resource; behind :func:`django_bff.token_manager.get_client_access_token`.
"""

from __future__ import annotations

import hashlib

from django_bff.clients import get_client
from django_bff.token_manager.flow import Flow
from django_bff.token_manager.single_flight import CachedTokenRequest, cached_token_flow
from django_bff.tokens import TokenResult

__all__ = ["client_cache_key", "client_token_flow"]


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
