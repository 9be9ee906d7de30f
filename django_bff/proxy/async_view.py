"""The proxy's async path: a proxied call under ASGI run without a thread, from the token to the last byte.

In the data flow: the view a route is (:class:`ProxyView`, what
:meth:`RemoteAPIView.as_view <django_bff.proxy.view.RemoteAPIView.as_view>`
returns) chooses per call. Under ASGI with ``BFF["PROXY_ASYNC"]`` it is a
coroutine view and runs :func:`adispatch`: the same steps as the thread path,
in the same order, through the same functions (the view's
``check_request``, ``prepare``, ``refused_result`` and ``failed``; the header
and path rules; the DPoP flow of :mod:`django_bff.proxy.dpop`), with the I/O
awaited: the session read (``asession_login``), the retriever's
``aget_access_token`` (the token manager's async driver), the upstream call
and the streamed answer (:mod:`django_bff.proxy.async_transport`). Anywhere
else (WSGI, the test ``Client``, ``PROXY_ASYNC`` off) it is
the plain sync view, at no cost beyond one attribute read.

Django decides between a sync and a coroutine view when it calls it
(``asgiref.sync.iscoroutinefunction``), so the choice is made then: async
when the settings ask for it and the caller runs in an event loop (Django's
ASGI handler does; its WSGI handler never does).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse

from django_bff import telemetry
from django_bff.conf import bff_settings
from django_bff.exceptions import BFFError
from django_bff.proxy.async_transport import AsyncAnswer, aread_body, asend, response_chunks
from django_bff.proxy.calls import call_flow, traced_flow
from django_bff.proxy.headers import _copy_response_headers, _upstream_headers, token_headers
from django_bff.proxy.paths import _is_websocket_target
from django_bff.proxy.transport import _UPLOAD_CHUNK
from django_bff.responses import error_response
from django_bff.token_manager.flow import Call, run_async

if TYPE_CHECKING:
    from django_bff.proxy.view import RemoteAPIView

__all__ = ["ProxyView", "adispatch"]

# What asgiref.sync.iscoroutinefunction looks for: Python 3.12's marker, and the older one.
_MARK_312 = getattr(inspect, "_is_coroutine_mark", None)
_MARK_311 = getattr(asyncio.coroutines, "_is_coroutine", None)


def _runs_async() -> bool:
    """Whether this call takes the async path: asked for, and called from an event loop.

    Not with ``ATOMIC_REQUESTS``: Django refuses to wrap a coroutine view in a transaction.
    """
    try:
        asyncio.get_running_loop()  # first: under WSGI, the one check made
    except RuntimeError:
        return False
    return bff_settings.PROXY_ASYNC and not any(db.get("ATOMIC_REQUESTS") for db in settings.DATABASES.values())


class ProxyView:
    """A route's view: the sync view of :class:`RemoteAPIView`, or under ASGI its async path."""

    def __init__(self, view: Callable[..., HttpResponseBase]) -> None:
        functools.update_wrapper(self, view)  # view_class, view_initkwargs, csrf_exempt, __name__
        self.sync_view = view
        self.view_class: type[RemoteAPIView] = getattr(view, "view_class")  # noqa: B009  (set by as_view)
        self.view_initkwargs: dict[str, Any] = getattr(view, "view_initkwargs")  # noqa: B009

    @property
    def _is_coroutine(self) -> object:
        return _MARK_311 if _runs_async() else None

    @property
    def _is_coroutine_marker(self) -> object:
        return _MARK_312 if _runs_async() else None

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not _runs_async():
            return self.sync_view(request, *args, **kwargs)
        view = self.view_class(**self.view_initkwargs)
        view.setup(request, *args, **kwargs)
        return adispatch(view, request, kwargs.get("path", ""))


async def adispatch(view: RemoteAPIView, request: HttpRequest, path: str) -> HttpResponseBase:
    """:meth:`RemoteAPIView.dispatch`, async."""
    if _is_websocket_target(view.upstream):  # django_bff.asgi.BFFApplication proxies its WebSocket connections
        return view.counted(request, error_response(426, "websocket_required"))
    if request.method not in view.supported_methods:
        return view.counted(request, view.http_method_not_allowed(request))
    try:
        response = await _aproxy(view, request, path)
    except BFFError as e:
        response = view.failed(request, e)
    return view.counted(request, response)


async def _alogged_in(request: HttpRequest) -> bool:
    from django_bff.sessions import asession_login

    decided = await asession_login(request)
    return decided if decided is not None else bool((await request.auser()).is_authenticated)


async def _aproxy(view: RemoteAPIView, request: HttpRequest, path: str) -> HttpResponseBase:
    view.check_request(request)
    if view.require_authentication and not await _alogged_in(request):
        return error_response(401, "not_authenticated")
    url, length, context = view.prepare(request, path)
    result = await view.get_retriever(request.path).aget_access_token(context)
    refused = view.refused_result(result)
    if refused is not None:
        return refused
    method = str(request.method)
    chunk_size = max(bff_settings.PROXY_CHUNK_SIZE, _UPLOAD_CHUNK)
    started = time.monotonic()

    async def send(nonce: str | None = None, content: bytes | None = None) -> AsyncAnswer:
        headers = _upstream_headers(request, token_headers(result, method, url, nonce), view.forward_headers)
        telemetry.inject(headers)  # the upstream span's W3C traceparent, when there is one
        return await asend(request, method, url, headers, length, chunk_size, content)

    attributes: dict[str, Any] | None = None
    sender = _AsyncSender(request, send)
    if telemetry.ENABLED:
        answer, attributes = await run_async(traced_flow(view.route_name(), method, url, result, length, sender))
    else:
        answer = await run_async(call_flow(url, length, result, sender))
    view._log(request, method, url, answer.status, started)
    response = StreamingHttpResponse(response_chunks(answer, attributes), status=answer.status)
    _copy_response_headers(response, answer)
    return response


class _AsyncSender:
    """The async transport's I/O, as the operations of :func:`~django_bff.proxy.dpop.proof_flow`."""

    def __init__(self, request: HttpRequest, send: Callable[..., Any]) -> None:
        self.request = request
        self._send = send

    def send(self, nonce: str | None, content: bytes | None) -> Call[AsyncAnswer]:
        return Call(_no_sync, functools.partial(self._send, nonce, content))

    def discard(self, answer: AsyncAnswer) -> Call[None]:
        return Call(_no_sync, answer.response.aclose)

    def read_body(self, length: int) -> Call[bytes]:
        return Call(_no_sync, functools.partial(aread_body, self.request, length))


def _no_sync() -> Any:  # pragma: no cover - run_async always awaits the async twin
    raise RuntimeError("the async sender runs under run_async only")
