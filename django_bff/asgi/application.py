"""``BFFApplication``: a project's ASGI application, with WebSockets proxied for its ``ws://`` and ``wss://`` routes.

In the data flow: the outermost ASGI application. HTTP and lifespan go to the
wrapped Django application unchanged; a ``websocket`` connection is matched
against the URLconf (the routes of :func:`~django_bff.proxy.remote_api` and
``BFF["REMOTE_APIS"]``), checked by :mod:`django_bff.asgi.handshake` and
proxied by :mod:`django_bff.asgi.websocket`::

    # asgi.py
    from django.core.asgi import get_asgi_application
    from django_bff.asgi import BFFApplication, RequestBodyLimitMiddleware

    application = BFFApplication(RequestBodyLimitMiddleware(get_asgi_application()))

A ``websocket`` connection whose path resolves to no WebSocket route goes to
``websocket_app`` when one is given (Channels' router, say), else it is
refused with 404 ``not_found``. A refusal is an HTTP answer with the status and
``{"error": code}`` when the server offers ASGI's ``websocket.http.response``
extension (uvicorn and daphne do), else a close before the accept, which the
server answers 403.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.urls import Resolver404, resolve

from django_bff.asgi.body_limit import ASGIApp, Receive, Scope, Send
from django_bff.proxy.paths import _is_websocket_target

__all__ = ["BFFApplication"]

logger = logging.getLogger(__name__)


async def _refuse(scope: Scope, send: Send, status: int, code: str, retry_after: int | None = None) -> None:
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": code}).encode()
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    if retry_after:
        headers.append((b"retry-after", str(int(retry_after)).encode()))
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


def _route(scope: Scope) -> tuple[Any, str] | None:
    """The view of the WebSocket route the scope's path resolves to, made, and the path below its prefix."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :]
    try:
        match = resolve(path)
    except Resolver404:
        return None
    view_class = getattr(match.func, "view_class", None)
    initkwargs = getattr(match.func, "view_initkwargs", None)
    if view_class is None or initkwargs is None:
        return None
    view = view_class(**initkwargs)
    if not _is_websocket_target(getattr(view, "upstream", None)):
        return None
    return view, str(match.kwargs.get("path", ""))


class BFFApplication:
    """Wraps a project's ASGI application (``get_asgi_application()``) and proxies its WebSocket routes.

    ``websocket_app``: the application for WebSocket connections that match no
    route of the BFF (None: they are refused with 404).
    """

    def __init__(self, app: ASGIApp, websocket_app: ASGIApp | None = None) -> None:
        self.app = app
        self.websocket_app = websocket_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        route = _route(scope)
        if route is None:
            if self.websocket_app is not None:
                await self.websocket_app(scope, receive, send)
                return
            message = await receive()
            if message["type"] == "websocket.connect":
                await _refuse(scope, send, 404, "not_found")
            return
        await self.proxy(scope, receive, send, *route)

    async def proxy(self, scope: Scope, receive: Receive, send: Send, view: Any, path: str) -> None:
        from django_bff.asgi.handshake import Refused, check_handshake
        from django_bff.asgi.websocket import proxy_websocket

        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the browser left before the handshake
        try:
            try:
                handshake = await check_handshake(scope, view, path)
            finally:
                await sync_to_async(close_old_connections)()  # as Django does at the end of a request
            await proxy_websocket(handshake, receive, send)
        except Refused as e:
            await _refuse(scope, send, e.status, e.code, e.retry_after)
