"""Token stores for tests: one that records what django_bff asks of it."""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import HttpRequest

from django_bff.stores import UserTokenStore
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
