"""Token stores for tests: one that records what django_bff asks of it, one with only the request-based contract."""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import HttpRequest

from django_bff.stores import CacheTokenStore, UserTokenStore
from django_bff.tokens import UserToken, UserTokenRequestParameters


class RecordingTokenStore(UserTokenStore):
    """Keeps nothing; ``calls`` lists each call as ``(method, session key)``, across instances."""

    calls: ClassVar[list[tuple[str, Any]]] = []

    def _record(self, method: str, request: HttpRequest) -> None:
        self.calls.append((method, getattr(getattr(request, "session", None), "session_key", None)))

    def store_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        self._record("store_token", request)

    def get_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> UserToken | None:
        self._record("get_token", request)
        return None

    def clear_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        self._record("clear_token", request)


class RequestOnlyTokenStore(UserTokenStore):
    """The three methods a third-party store must write, and nothing more (a cache store inside)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = CacheTokenStore(KEY_PREFIX="bff:request-only:")

    def store_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        assert request.user is not None
        self.inner.store_token(request, token, parameters)

    def get_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> UserToken | None:
        assert request.user is not None
        return self.inner.get_token(request, parameters)

    def clear_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        assert request.user is not None
        self.inner.clear_token(request, parameters)
