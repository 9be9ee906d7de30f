"""Per-route access token retrieval (reference: ``IAccessTokenRetriever``).

The token store says how tokens are kept for everybody; a retriever says which
token one remote API route sends. :class:`DefaultAccessTokenRetriever` follows
the route's token type. Write your own for delegation or impersonation (an
exchanged token) by subclassing :class:`AccessTokenRetriever` or extending the
default, and attach it to a route::

    remote_api("api/impersonation/", "https://api.example.com/endpoint/requiring/impersonation",
               token_type=TokenType.USER, retriever=ImpersonationAccessTokenRetriever)

or to every route whose local path matches a pattern, with
``BFF["ACCESS_TOKEN_RETRIEVERS"]``. A retriever instance is made for every
request; :meth:`AccessTokenRetriever.get_access_token` runs on every call, so
cache what is expensive.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.utils.module_loading import import_string

from django_bff.conf import bff_settings, on_reload
from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.token_manager import get_client_access_token, get_user_access_token
from django_bff.tokens import TokenError, TokenResult, TokenType, UserTokenRequestParameters

__all__ = [
    "AccessTokenRetriever",
    "DefaultAccessTokenRetriever",
    "AccessTokenRetrievalContext",
    "AccessTokenResult",
    "BearerTokenResult",
    "DPoPTokenResult",
    "NoAccessTokenResult",
    "AccessTokenRetrievalError",
    "resolve_retriever_class",
    "retriever_class_for",
    "pattern_retrievers",
    "result_from_token",
]


@dataclass(frozen=True)
class AccessTokenRetrievalContext:
    """What a retriever knows about the call (reference: ``AccessTokenRetrievalContext``)."""

    request: HttpRequest
    local_path: str
    api_address: str
    token_type: TokenType = TokenType.USER
    optional: bool = False
    user_token_request_parameters: UserTokenRequestParameters = field(default_factory=UserTokenRequestParameters)
    client_name: str = "default"
    metadata: Mapping[str, Any] = field(default_factory=dict)


class AccessTokenResult:
    """Base of the four results a retriever returns."""


@dataclass(frozen=True, repr=False)
class BearerTokenResult(AccessTokenResult):
    """Send ``Authorization: Bearer <access_token>``."""

    access_token: str

    def __repr__(self) -> str:
        return "BearerTokenResult(...)"


@dataclass(frozen=True, repr=False)
class DPoPTokenResult(AccessTokenResult):
    """Send ``Authorization: DPoP <access_token>`` with a proof signed by ``dpop_jwk`` (a private JWK, JSON)."""

    access_token: str
    dpop_jwk: str

    def __repr__(self) -> str:
        return "DPoPTokenResult(...)"


@dataclass(frozen=True)
class NoAccessTokenResult(AccessTokenResult):
    """No token, and that is fine: the call goes upstream without ``Authorization``."""


@dataclass(frozen=True)
class AccessTokenRetrievalError(AccessTokenResult):
    """No token, and the call must not go upstream.

    ``error`` is the code the browser gets in ``{"error": ...}``; ``status_code``
    401 (log in again) or 503 (transient, with ``retry_after`` seconds).
    """

    error: str
    status_code: int = 401
    retry_after: int | None = None


def result_from_token(result: TokenResult) -> AccessTokenResult:
    """Turn a token-manager answer into a retriever result."""
    token = result.token
    if token is not None:
        if token.access_token_type.lower() == "dpop" and token.dpop_jwk:
            return DPoPTokenResult(token.access_token, token.dpop_jwk)
        return BearerTokenResult(token.access_token)
    error = result.error or TokenError.NO_TOKEN
    if error.transient:
        return AccessTokenRetrievalError(error.value, 503, result.retry_after or int(bff_settings.RETRY_AFTER))
    return AccessTokenRetrievalError(error.value, 401)


class AccessTokenRetriever:
    """Base class of retrievers (reference: ``IAccessTokenRetriever``).

    Subclasses must implement :meth:`get_access_token`; :meth:`aget_access_token`
    runs it in a thread unless overridden.
    """

    def get_access_token(self, context: AccessTokenRetrievalContext) -> AccessTokenResult:
        raise NotImplementedError("subclasses of AccessTokenRetriever must provide a get_access_token() method")

    async def aget_access_token(self, context: AccessTokenRetrievalContext) -> AccessTokenResult:
        return await sync_to_async(self.get_access_token)(context)


class DefaultAccessTokenRetriever(AccessTokenRetriever):
    """The route's token type decides (reference: ``DefaultAccessTokenRetriever``).

    * ``USER``: the session's token, refreshed when needed; with ``optional``, an
      anonymous user (or a session without tokens) gets :class:`NoAccessTokenResult`.
    * ``CLIENT``: the client-credentials token of the route's client.
    * ``USER_OR_CLIENT``: the user's token when someone is logged in, else the client's.
    * ``NONE``: no token.
    """

    def get_user_token(self, context: AccessTokenRetrievalContext) -> TokenResult:
        return get_user_access_token(context.request, context.user_token_request_parameters)

    def get_client_token(self, context: AccessTokenRetrievalContext) -> TokenResult:
        return get_client_access_token(context.client_name)

    def get_access_token(self, context: AccessTokenRetrievalContext) -> AccessTokenResult:
        if context.token_type == TokenType.NONE:
            return NoAccessTokenResult()
        if context.token_type == TokenType.CLIENT:
            return result_from_token(self.get_client_token(context))
        result = self.get_user_token(context)
        if result.error is TokenError.NOT_AUTHENTICATED:
            if context.token_type == TokenType.USER_OR_CLIENT:
                return result_from_token(self.get_client_token(context))
            if context.optional:
                return NoAccessTokenResult()
        if result.error is TokenError.NO_TOKEN and context.optional:
            return NoAccessTokenResult()
        return result_from_token(result)


def resolve_retriever_class(value: Any) -> type[AccessTokenRetriever]:
    """A retriever class from a class or a dotted path; ImproperlyConfigured otherwise."""
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as e:
            raise BFFImproperlyConfigured(f"cannot import the retriever {value!r}: {e}") from e
    if not (isinstance(value, type) and issubclass(value, AccessTokenRetriever)):
        raise BFFImproperlyConfigured(f"{value!r} is not a subclass of django_bff.retrievers.AccessTokenRetriever")
    return value


@functools.lru_cache(maxsize=1)
def pattern_retrievers() -> list[tuple[re.Pattern[str], type[AccessTokenRetriever]]]:
    """``BFF["ACCESS_TOKEN_RETRIEVERS"]``, compiled once per settings."""
    entries = []
    for entry in bff_settings.ACCESS_TOKEN_RETRIEVERS:
        try:
            pattern = re.compile(entry["PATTERN"])
        except (TypeError, KeyError, re.error) as e:
            raise BFFImproperlyConfigured(f'BFF["ACCESS_TOKEN_RETRIEVERS"] has a bad PATTERN: {e}') from e
        entries.append((pattern, resolve_retriever_class(entry.get("RETRIEVER"))))
    return entries


on_reload(pattern_retrievers.cache_clear)


def retriever_class_for(route_class: type[AccessTokenRetriever] | None, local_path: str) -> type[AccessTokenRetriever]:
    """The route's own retriever, else the first pattern that matches ``local_path``, else the default."""
    if route_class is not None:
        return route_class
    for pattern, retriever_class in pattern_retrievers():
        if pattern.search(local_path):
            return retriever_class
    return DefaultAccessTokenRetriever
