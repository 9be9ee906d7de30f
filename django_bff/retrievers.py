"""Per-route access token retrieval (reference: ``IAccessTokenRetriever``).

In the data flow: after the proxy view's checks and before the upstream call.
The view asks the route's retriever, which asks the token manager
(:mod:`django_bff.token_manager`) for the user's, the client's or an exchanged
token.

The token store says how tokens are kept for everybody; a retriever says which
token one remote API route sends. :class:`DefaultAccessTokenRetriever` follows
the route's token type. Write your own for delegation or impersonation (an
exchanged token) by subclassing :class:`AccessTokenRetriever` or extending the
default, and attach it to a route::

    remote_api(
        "api/impersonation/",
        "https://api.example.com/endpoint/requiring/impersonation",
        token_type=TokenType.USER,
        retriever=ImpersonationAccessTokenRetriever,
    )

or to every route whose local path matches a pattern, with
``BFF["ACCESS_TOKEN_RETRIEVERS"]``. A retriever instance is made for every
request; :meth:`AccessTokenRetriever.get_access_token` runs on every call, so
cache what is expensive.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest

from django_bff.conf import bff_settings, per_settings
from django_bff.conf.loading import load_class
from django_bff.conf.problems import Parsed, Problem
from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.token_manager import (
    aget_client_access_token,
    aget_user_access_token,
    get_client_access_token,
    get_user_access_token,
)
from django_bff.token_manager.client import exchange_token
from django_bff.token_manager.flow import Flow, call, run_async, run_sync
from django_bff.tokens import TokenError, TokenResult, TokenType, UserTokenRequestParameters

logger = logging.getLogger(__name__)

__all__ = [
    "AccessTokenRetriever",
    "DefaultAccessTokenRetriever",
    "AccessTokenRetrievalContext",
    "AccessTokenResult",
    "BearerTokenResult",
    "DPoPTokenResult",
    "NoAccessTokenResult",
    "AccessTokenRetrievalError",
    "TokenExchangeAccessTokenRetriever",
    "TOKEN_EXCHANGE_GRANT",
    "ACCESS_TOKEN_TYPE",
    "resolve_retriever_class",
    "retriever_class_for",
    "pattern_retrievers",
    "PatternRetriever",
    "parse_access_token_retrievers",
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
    401 only when logging in again helps (no session, the session expired), 502
    when the token service refused in a way a login does not fix, 503 when it is
    transient (with ``retry_after`` seconds).
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
        return AccessTokenRetrievalError(error.value, 503, result.retry_after or bff_settings.RETRY_AFTER)
    if error is TokenError.TOKEN_SERVICE_ERROR:
        # The token service refused for a reason a new login does not fix (invalid_client,
        # a misconfigured client...): 401 would send the browser app into a login loop.
        return AccessTokenRetrievalError(error.value, 502)
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

    async def aget_user_token(self, context: AccessTokenRetrievalContext) -> TokenResult:
        """Async twin of :meth:`get_user_token`; a subclass's own ``get_user_token`` runs in a thread."""
        if type(self).get_user_token is not DefaultAccessTokenRetriever.get_user_token:
            return await sync_to_async(self.get_user_token)(context)
        return await aget_user_access_token(context.request, context.user_token_request_parameters)

    def get_client_token(self, context: AccessTokenRetrievalContext) -> TokenResult:
        return get_client_access_token(context.client_name)

    async def aget_client_token(self, context: AccessTokenRetrievalContext) -> TokenResult:
        """Async twin of :meth:`get_client_token`; a subclass's own ``get_client_token`` runs in a thread."""
        if type(self).get_client_token is not DefaultAccessTokenRetriever.get_client_token:
            return await sync_to_async(self.get_client_token)(context)
        return await aget_client_access_token(context.client_name)

    def _result_flow(self, context: AccessTokenRetrievalContext) -> Flow[AccessTokenResult]:
        """The token type's decision, written once for :meth:`get_access_token` and its async twin."""
        if context.token_type == TokenType.NONE:
            return NoAccessTokenResult()
        if context.token_type == TokenType.CLIENT:
            return result_from_token((yield from call(self.get_client_token, self.aget_client_token, context)))
        result = yield from call(self.get_user_token, self.aget_user_token, context)
        if result.error is TokenError.NOT_AUTHENTICATED:
            if context.token_type == TokenType.USER_OR_CLIENT:
                return result_from_token((yield from call(self.get_client_token, self.aget_client_token, context)))
            if context.optional:
                return NoAccessTokenResult()
        if result.error is TokenError.NO_TOKEN and context.optional:
            return NoAccessTokenResult()
        return result_from_token(result)

    def get_access_token(self, context: AccessTokenRetrievalContext) -> AccessTokenResult:
        return run_sync(self._result_flow(context))

    async def aget_access_token(self, context: AccessTokenRetrievalContext) -> AccessTokenResult:
        """Async twin of :meth:`get_access_token`: no thread, unless a subclass overrides ``get_access_token``."""
        if type(self).get_access_token is not DefaultAccessTokenRetriever.get_access_token:
            return await super().aget_access_token(context)
        return await run_async(self._result_flow(context))


def resolve_retriever_class(value: Any) -> type[AccessTokenRetriever]:
    """A retriever class from a class or a dotted path; ImproperlyConfigured otherwise."""
    return load_class(value, AccessTokenRetriever, "the retriever")


@dataclass(frozen=True)
class PatternRetriever:
    """One entry of ``BFF["ACCESS_TOKEN_RETRIEVERS"]``, parsed: the compiled pattern and the retriever class."""

    pattern: re.Pattern[str]
    retriever: type[AccessTokenRetriever]


_PATTERN_HINT = 'Each entry: {"PATTERN": regex, "RETRIEVER": "dotted.path"}.'


def parse_access_token_retrievers(user: Mapping[str, object]) -> Parsed[PatternRetriever]:
    """``user["ACCESS_TOKEN_RETRIEVERS"]`` (``settings.BFF``) parsed: the valid entries, and every problem."""
    entries = user.get("ACCESS_TOKEN_RETRIEVERS", [])
    if not isinstance(entries, (list, tuple)):
        where = 'BFF["ACCESS_TOKEN_RETRIEVERS"]'
        return Parsed.of([], [Problem("django_bff.E020", f"{where} must be a list.", _PATTERN_HINT)])
    parsed: list[PatternRetriever] = []
    problems: list[Problem] = []
    for index, entry in enumerate(entries):
        where = f'BFF["ACCESS_TOKEN_RETRIEVERS"][{index}]'
        if not isinstance(entry, dict) or set(entry) != {"PATTERN", "RETRIEVER"}:
            problems.append(Problem("django_bff.E046", f"{where} is malformed.", _PATTERN_HINT))
            continue
        found: list[Problem] = []
        try:
            pattern = re.compile(entry["PATTERN"])
        except (re.error, TypeError) as e:
            found.append(Problem("django_bff.E047", f"{where} has a bad PATTERN.", f"Not a regex: {e}"))
        try:
            retriever = load_class(entry["RETRIEVER"], AccessTokenRetriever, f"{where}['RETRIEVER']")
        except BFFImproperlyConfigured as e:
            found.append(Problem("django_bff.E048", f"{where}: the retriever is not usable.", str(e)))
        if not found:
            parsed.append(PatternRetriever(pattern, retriever))
        problems += found
    return Parsed.of(parsed, problems)


@per_settings
def pattern_retrievers() -> tuple[PatternRetriever, ...]:
    """``BFF["ACCESS_TOKEN_RETRIEVERS"]``, compiled once per settings; the first problem is raised."""
    parsed = parse_access_token_retrievers(bff_settings.user_settings)
    if parsed.errors():
        raise parsed.errors()[0].error()
    return parsed.items


def retriever_class_for(route_class: type[AccessTokenRetriever] | None, local_path: str) -> type[AccessTokenRetriever]:
    """The route's own retriever, else the first pattern that matches ``local_path``, else the default."""
    if route_class is not None:
        return route_class
    for entry in pattern_retrievers():
        if entry.pattern.search(local_path):
            return entry.retriever
    return DefaultAccessTokenRetriever


TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class TokenExchangeAccessTokenRetriever(DefaultAccessTokenRetriever):
    """Delegation and impersonation by token exchange (RFC 8693).

    Exchanges the user's access token (the subject token) at the token service
    for one aimed at the route's API, and caches the result (encrypted, in
    ``BFF["CACHE"]``) per subject token, audience, resource, scope and client
    until shortly before it expires: the reference page warns that a retriever
    runs on every call. One exchange per key at a time, across threads and
    processes, as for client-credentials tokens: the others wait for it and
    take the token it caches.
    Subclass it to set what is asked for::

        class ImpersonationAccessTokenRetriever(TokenExchangeAccessTokenRetriever):
            audience = "https://api.example.com"
            scope = "orders.read"

    ``audience`` defaults to the route's target; ``client`` is the client (of
    ``BFF["CLIENTS"]``) that authenticates the exchange.
    """

    audience: str | None = None
    resource: str | None = None
    scope: str | None = None
    client: str = "default"

    def exchange_parameters(self, context: AccessTokenRetrievalContext, subject_token: str) -> dict[str, str]:
        data = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": self.audience or context.api_address,
        }
        if self.resource:
            data["resource"] = self.resource
        if self.scope:
            data["scope"] = self.scope
        return data

    def get_access_token(self, context: AccessTokenRetrievalContext) -> AccessTokenResult:
        subject = self.get_user_token(context)
        if subject.token is None:
            return result_from_token(subject)
        data = self.exchange_parameters(context, subject.token.access_token)
        exchanged = exchange_token(subject.token.access_token, data, self.client)
        if exchanged.token is not None:
            return result_from_token(exchanged)  # DPoP when the exchanged token is bound to a key it carries
        if exchanged.error is TokenError.TOKEN_SERVICE_ERROR:
            # The provider refused the exchange: a new login would not change that.
            return AccessTokenRetrievalError("token_exchange_failed", 502)
        return result_from_token(exchanged)
