"""Access-token retrievers for tests of the proxy's retriever choice (named by dotted path in settings)."""

from __future__ import annotations

from typing import Any

from django_bff.retrievers import (
    AccessTokenRetrievalContext,
    AccessTokenRetriever,
    BearerTokenResult,
    DefaultAccessTokenRetriever,
    NoAccessTokenResult,
)


class CountingRetriever(DefaultAccessTokenRetriever):
    """The default retriever, counting its calls in ``calls``."""

    calls = 0

    def get_access_token(self, context: AccessTokenRetrievalContext) -> Any:
        CountingRetriever.calls += 1
        return super().get_access_token(context)


class RouteRetriever(AccessTokenRetriever):
    def get_access_token(self, context: AccessTokenRetrievalContext) -> Any:
        return BearerTokenResult("route-retriever-token")


class PatternRetriever(AccessTokenRetriever):
    """Remembers every instance made, to show one is made per request."""

    instances: list[PatternRetriever] = []

    def __init__(self) -> None:
        PatternRetriever.instances.append(self)

    def get_access_token(self, context: AccessTokenRetrievalContext) -> Any:
        assert context.local_path.startswith("/api/") and context.api_address.endswith("/v1/")
        return BearerTokenResult("pattern-retriever-token")


class NoTokenRetriever(AccessTokenRetriever):
    def get_access_token(self, context: AccessTokenRetrievalContext) -> Any:
        return NoAccessTokenResult()


class BrokenRetriever(AccessTokenRetriever):
    """Returns something that is not an access-token result."""

    def get_access_token(self, context: AccessTokenRetrievalContext) -> Any:
        return "not a result"


class DPoPRetriever(AccessTokenRetriever):
    """A DPoP-bound token and its key (one key for the process), for the WebSocket handshake's proof."""

    key: str | None = None

    def get_access_token(self, context: AccessTokenRetrievalContext) -> Any:
        from django_bff.dpop import new_key
        from django_bff.retrievers import DPoPTokenResult

        if DPoPRetriever.key is None:
            DPoPRetriever.key = new_key()
        return DPoPTokenResult("dpop-bound-websocket-token", DPoPRetriever.key)
