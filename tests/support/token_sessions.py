"""Browser sessions holding a token, made directly in the token store (no provider, no login)."""

from __future__ import annotations

from typing import Any

from django_bff.stores import get_token_store
from django_bff.testing import UserTokenStoreContract

__all__ = ["Session", "anonymous_request"]


class Session:
    """A logged-in browser session: each call to ``request()`` is a new request in it."""

    def __init__(self, user: Any, token: Any) -> None:
        self.contract = UserTokenStoreContract()
        self.user = user
        first = self.contract.new_request(user=user)
        get_token_store().store_token(first, token)
        self.key = self.contract.finish_request(first)

    def request(self) -> Any:
        return self.contract.new_request(self.key, self.user)

    def stored(self) -> Any:
        return get_token_store().get_token(self.request())


def anonymous_request() -> Any:
    """A request in a new session, by an anonymous user."""
    from django.contrib.auth.models import AnonymousUser

    request = UserTokenStoreContract().new_request()
    request.user = AnonymousUser()
    return request
