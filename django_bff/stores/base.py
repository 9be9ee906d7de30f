"""The token store contract (reference: ``IUserTokenStore``): :class:`UserTokenStore`.

In the data flow: the base class every store subclasses, the shipped ones
(:mod:`.record`, :mod:`.session`, :mod:`.cache`) and yours; the token manager,
the login hand-off and the session lifecycle call it through
:func:`django_bff.stores.get_token_store`. Also here: where a token is kept
inside a store (:func:`resource_key`).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import SessionBase
from django.core.checks import CheckMessage
from django.http import HttpRequest

from django_bff.tokens import UserToken, UserTokenRequestParameters

__all__ = ["UserTokenStore", "resource_key"]


class UserTokenStore:
    """Base class of token stores. Subclass it and name yours in ``BFF["USER_TOKEN_STORE"]``.

    ``request.user`` is the user the tokens belong to, ``request.session`` the
    session. ``parameters.resource`` and ``parameters.scope`` tell tokens apart:
    keep one per resource and scope.

    Subclasses must implement :meth:`store_token`, :meth:`get_token` and
    :meth:`clear_token`. The async twins default to running those in a thread;
    override them when your storage has a native async client. :meth:`check`
    may return system-check messages about the store's options.
    """

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"{type(self).__name__} got unknown OPTIONS: {', '.join(sorted(options))}")

    # --- must implement ------------------------------------------------------
    def store_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        """Store ``token`` for this request's session (and ``parameters.resource``)."""
        raise NotImplementedError("subclasses of UserTokenStore must provide a store_token() method")

    def get_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> UserToken | None:
        """The stored token, or ``None`` when there is none."""
        raise NotImplementedError("subclasses of UserTokenStore must provide a get_token() method")

    def clear_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        """Forget every token of this request's session."""
        raise NotImplementedError("subclasses of UserTokenStore must provide a clear_token() method")

    # --- async twins ------------------------------------------------------------
    async def astore_token(
        self, request: HttpRequest, token: UserToken, parameters: UserTokenRequestParameters | None = None
    ) -> None:
        await sync_to_async(self.store_token)(request, token, parameters)

    async def aget_token(
        self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None
    ) -> UserToken | None:
        return await sync_to_async(self.get_token)(request, parameters)

    async def aclear_token(self, request: HttpRequest, parameters: UserTokenRequestParameters | None = None) -> None:
        await sync_to_async(self.clear_token)(request, parameters)

    # --- optional ---------------------------------------------------------------------
    def check(self) -> list[CheckMessage]:
        """System-check messages about this store's configuration (may be empty)."""
        return []

    def on_tokens_visible(self, request: HttpRequest, callback: Any) -> None:
        """Call ``callback`` once the tokens this request stored can be read by other workers.

        The token manager releases its refresh lock through this: a worker waiting
        for the refresh must find the new tokens when it gets the lock. The default
        waits for the database transaction the request is in, if any
        (``ATOMIC_REQUESTS``); override it when your storage is visible at once.
        """
        from django.db import transaction

        transaction.on_commit(callback, robust=True)

    def get_session_token(
        self, session: SessionBase, parameters: UserTokenRequestParameters | None = None
    ) -> UserToken | None:
        """The token of ``session``, read from outside any request of its own (a session ended elsewhere).

        The default calls :meth:`get_token` with a request that carries only
        ``session`` and an anonymous user; the shipped stores read the session.
        """
        return self.get_token(_outside_request(session), parameters)

    def clear_session_tokens(self, session: SessionBase) -> None:
        """Forget every token of ``session`` from outside any request of its own; the default as above."""
        self.clear_token(_outside_request(session))


def _outside_request(session: SessionBase) -> HttpRequest:
    """A request carrying only ``session``: how the request-based contract is called for a session alone."""
    from django.contrib.auth.models import AnonymousUser

    request = HttpRequest()
    request.session = session
    request.user = AnonymousUser()
    return request


def resource_key(parameters: UserTokenRequestParameters | None) -> str:
    """Where a token is kept in a record: per resource and per (narrower) scope."""
    if parameters is None:
        return ""
    key = parameters.resource or ""
    return f"{key} scope={parameters.scope}" if parameters.scope else key
