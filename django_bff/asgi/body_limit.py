"""An ASGI middleware that bounds request bodies before Django reads them.

In the data flow: before Django, around the whole ASGI application (inside
:class:`~django_bff.asgi.BFFApplication` when both are used). A request
body is bounded here before Django's handler reads it; the proxy view
(:mod:`django_bff.proxy.view`) then streams it upstream.

Under ASGI, Django's handler reads the whole request body (into a temporary file
past ``FILE_UPLOAD_MAX_MEMORY_SIZE``) before any view runs, so the proxy's
``BFF["MAX_REQUEST_BODY"]`` check would come too late to stop a client from
making the server write an arbitrarily large body to disk. Wrap the application::

    # asgi.py
    from django.core.asgi import get_asgi_application
    from django_bff.asgi import BFFApplication, RequestBodyLimitMiddleware

    application = BFFApplication(RequestBodyLimitMiddleware(get_asgi_application()))

A body announced larger than the limit (``Content-Length``) is answered 413 at
once, without reading it; a body without ``Content-Length`` is counted as it
arrives and cut with 413 as soon as it passes the limit. The limit is
``BFF["MAX_REQUEST_BODY"]`` (read per request), or ``max_bytes``. It applies to
every HTTP request of the application, not only to BFF routes. Under WSGI the
proxy enforces the limit itself, reading nothing before it has checked.

It also bounds the wait for each piece of a body: a client that stops sending
in the middle of an upload is answered 408 (``{"error": "request_body_timeout"}``)
and its connection closed once no piece has arrived for
``BFF["REQUEST_BODY_TIMEOUT"]`` seconds (read per request), or ``body_timeout``
(``None``: no bound).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from django_bff.conf import bff_settings

__all__ = ["RequestBodyLimitMiddleware"]

logger = logging.getLogger(__name__)

#: The ASGI types, as this package's modules name them: those of django-stubs' ``ASGIHandler``, so that
#: ``BFFApplication(get_asgi_application())`` type-checks (a scope is a dict; a sent message any mapping).
Scope = dict[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SETTING = object()


def _disconnect() -> Message:
    return {"type": "http.disconnect"}


async def _refuse(send: Send, status: int, code: str) -> None:
    body = json.dumps({"error": code}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
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
    def __init__(self, app: ASGIApp, max_bytes: Any = _SETTING, body_timeout: Any = _SETTING) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = body_timeout

    def limit(self) -> int | None:
        value = bff_settings.MAX_REQUEST_BODY if self.max_bytes is _SETTING else self.max_bytes
        return None if value is None else int(value)

    def timeout(self) -> float | None:
        value = bff_settings.REQUEST_BODY_TIMEOUT if self.body_timeout is _SETTING else self.body_timeout
        return None if value is None else float(value)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, timeout = self.limit(), self.timeout()
        # HTTP/1 has a body only with one of these headers; HTTP/2 and 3 may send one without.
        has_body = scope.get("http_version", "1.1") not in ("1.0", "1.1")
        for name, value in scope.get("headers", []):
            name = name.lower()
            if name == b"content-length":
                if limit is not None and value.strip().isdigit() and int(value) > limit:
                    await _refuse(send, 413, "request_body_too_large")
                    return
                has_body = has_body or value.strip() not in (b"", b"0")
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body:
            timeout = None  # nothing to wait for: the server hands over an empty body at once
        if limit is None and timeout is None:
            await self.app(scope, receive, send)
            return
        received = 0
        body_complete = False
        started = False
        answered = False

        async def guarded_receive() -> Message:
            nonlocal received, body_complete, answered
            if answered:
                return _disconnect()
            if body_complete or timeout is None:
                # Once the body is in, the application waits for a disconnect: no bound then.
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), timeout)
                except TimeoutError:
                    answered = True
                    logger.info(
                        "no request body data for %s s: %s %r answered 408",
                        timeout,
                        scope.get("method"),
                        str(scope.get("path", ""))[:200],
                    )
                    if not started:
                        await _refuse(send, 408, "request_body_timeout")
                    return _disconnect()  # Django stops reading and answers nothing
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_complete = not message.get("more_body", False)
                if limit is not None and received > limit:
                    answered = True
                    await _refuse(send, 413, "request_body_too_large")
                    return _disconnect()
            return message

        async def guarded_send(message: Mapping[str, Any]) -> None:
            nonlocal started
            if not answered:
                started = True
                await send(message)

        await self.app(scope, guarded_receive, guarded_send)
