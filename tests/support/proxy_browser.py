"""A logged-in browser calling the proxy through Django's test client, and the routes it calls."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.test import Client

from django_bff.proxy import async_transport
from django_bff.stores import get_token_store
from django_bff.testing import UserTokenStoreContract

__all__ = ["TOKEN_URL", "PAST", "route", "Browser", "read", "body", "asgi_call"]

TOKEN_URL = "http://127.0.0.1:9/token"
PAST = datetime.now(timezone.utc) - timedelta(minutes=5)


def route(prefix: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"PREFIX": prefix, "TARGET": target, "ALLOW_INSECURE": True, **extra}


class Browser:
    """A logged-in browser: a test client whose session has tokens."""

    def __init__(self, client: Client, user: Any, token: Any) -> None:
        self.client = client
        client.force_login(user)
        key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
        request = UserTokenStoreContract().new_request(key, user)
        get_token_store().store_token(request, token)
        request.session.save()

    def call(self, method: str, path: str, **extra: Any) -> Any:
        extra.setdefault("HTTP_X_CSRF", "1")
        return read(self.client.generic(method, path, **extra))


def read(response: Any) -> Any:
    """Read a response whole, as a browser does (which also closes it)."""
    response.body_bytes = b"".join(response.streaming_content) if response.streaming else response.content
    return response


def body(response: Any) -> bytes:
    return response.body_bytes if hasattr(response, "body_bytes") else read(response).body_bytes


def asgi_call(async_client: Any, method: str, path: str, **kwargs: Any) -> tuple[Any, bytes]:
    """A call through Django's ``async_client`` (an ``ASGIRequest`` in an event loop): the response and its body.

    The loop is the call's own (``async_to_sync``): the async proxy's client of
    that loop is closed before it ends, as a server's would be with its process.
    """
    kwargs.setdefault("headers", {"X-CSRF": "1"})

    async def run() -> tuple[Any, bytes]:
        try:
            response = await async_client.generic(method, path, **kwargs)
            if response.streaming:
                assert response.is_async  # served without a thread
                return response, b"".join([chunk async for chunk in response.streaming_content])
            return response, response.content
        finally:
            await async_transport.aclose_async_proxy_client()

    return async_to_sync(run)()
