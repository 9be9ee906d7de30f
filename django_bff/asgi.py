"""An ASGI middleware that bounds request bodies before Django reads them.

Under ASGI, Django's handler reads the whole request body (into a temporary file
past ``FILE_UPLOAD_MAX_MEMORY_SIZE``) before any view runs, so the proxy's
``BFF["MAX_REQUEST_BODY"]`` check would come too late to stop a client from
making the server write an arbitrarily large body to disk. Wrap the application::

    # asgi.py
    from django.core.asgi import get_asgi_application
    from django_bff.asgi import RequestBodyLimitMiddleware

    application = RequestBodyLimitMiddleware(get_asgi_application())

A body announced larger than the limit (``Content-Length``) is answered 413 at
once, without reading it; a body without ``Content-Length`` is counted as it
arrives and cut with 413 as soon as it passes the limit. The limit is
``BFF["MAX_REQUEST_BODY"]`` (read per request), or ``max_bytes``. It applies to
every HTTP request of the application, not only to BFF routes. Under WSGI the
proxy enforces the limit itself, reading nothing before it has checked.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django_bff.conf import bff_settings

__all__ = ["RequestBodyLimitMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SETTING = object()


async def _too_large(send: Send) -> None:
    body = json.dumps({"error": "request_body_too_large"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestBodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: Any = _SETTING) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def limit(self) -> int | None:
        value = bff_settings.MAX_REQUEST_BODY if self.max_bytes is _SETTING else self.max_bytes
        return None if value is None else int(value)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit() if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length" and value.strip().isdigit() and int(value) > limit:
                await _too_large(send)
                return
        received = 0
        answered = False

        async def guarded_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    answered = True
                    await _too_large(send)
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, guarded_receive, guarded_send)
