"""The async proxy's upstream calls: a pooled ``httpx.AsyncClient`` per event loop, and the streamed bodies.

In the data flow: under :mod:`django_bff.proxy.async_view` (the async path of
a proxied call, under ASGI with ``BFF["PROXY_ASYNC"]``), beside
:mod:`django_bff.proxy.transport` (the thread path's urllib3 pool), whose
rules it shares: the same settings (``PROXY_VERIFY``, ``PROXY_CLIENT_CERT``,
``PROXY_CONNECT_TIMEOUT``, ``PROXY_READ_TIMEOUT``, ``PROXY_POOL_SIZE``), the
same error mapping (:func:`~django_bff.proxy.transport.failed_call`: 502 and
504), the same check of an answer's framing. Nothing here holds a thread while
it waits: the request body is read from the file Django's ``ASGIRequest`` has
already spooled (in memory, or in a thread per read when Django spooled it to
disk), the upstream is read with the event loop's sockets, and a quiet event
stream is a suspended coroutine. Django's own thread for the request (its ASGI
handler's ``ThreadSensitiveContext``) is let go while an answer of unknown
length streams (:func:`_release_request_thread`).

An ``AsyncClient`` belongs to the event loop it first ran on, so there is one
per running loop (uvicorn runs one per worker process; tests may run several),
made once per settings, forgotten with its loop, and closed when the settings
change.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import certifi
import httpx
import urllib3
from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import connections
from django.http import HttpRequest

from django_bff import telemetry
from django_bff.conf import bff_settings, per_settings_closing
from django_bff.exceptions import BFFError, UpstreamUnavailable
from django_bff.proxy.transport import _unreadable, failed_call

__all__ = [
    "get_async_proxy_client",
    "aclose_async_proxy_client",
    "AsyncAnswer",
    "asend",
    "aread_body",
    "response_chunks",
]

# The proxy package's one logger: docs/proxy.rst names it in its table of log lines.
logger = logging.getLogger("django_bff.proxy")


def _ssl_context() -> ssl.SSLContext:
    """TLS as :func:`~django_bff.proxy.transport.get_proxy_pool` sets it up, from the same settings."""
    verify = bff_settings.PROXY_VERIFY
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else certifi.where())
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert = bff_settings.PROXY_CLIENT_CERT
    if cert:
        cert_file, key_file = (cert, None) if isinstance(cert, str) else tuple(cert)
        context.load_cert_chain(cert_file, key_file)
    return context


def _new_client() -> httpx.AsyncClient:
    read = bff_settings.PROXY_READ_TIMEOUT
    connect = bff_settings.PROXY_CONNECT_TIMEOUT
    client = httpx.AsyncClient(
        verify=_ssl_context(),
        timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=connect),
        # Like the urllib3 pool (block=False): no limit on connections, PROXY_POOL_SIZE kept open per host.
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=bff_settings.PROXY_POOL_SIZE),
        follow_redirects=False,
        trust_env=False,  # no environment proxies or netrc: the proxy's upstreams are configured, not found
    )
    for name in list(client.headers):  # httpx's defaults (Accept-Encoding, User-Agent): the browser's are sent
        del client.headers[name]
    return client


class _ClientsByLoop:
    """One client per running event loop, forgotten with its loop."""

    def __init__(self) -> None:
        self.clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self.clients.get(loop)
        if client is None:
            client = self.clients[loop] = _new_client()
        return client

    async def aclose_running(self) -> None:
        client = self.clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Close each client in its own loop, when that loop still runs (the settings changed)."""
        for loop, client in list(self.clients.items()):
            if not loop.is_closed():
                loop.call_soon_threadsafe(_close_soon, client)
        self.clients.clear()


def _close_soon(client: httpx.AsyncClient) -> None:
    asyncio.ensure_future(client.aclose())


@per_settings_closing(_ClientsByLoop.close)
def _clients() -> _ClientsByLoop:
    return _ClientsByLoop()


def get_async_proxy_client() -> httpx.AsyncClient:
    """The async proxy's pooled client for the running event loop, made once per settings."""
    return _clients().get()


async def aclose_async_proxy_client() -> None:
    """Close the running loop's client, if it has one: for a loop about to end (a test, a script).

    A server's loop lives as long as its process and never needs it.
    """
    await _clients().aclose_running()


@dataclass(frozen=True)
class AsyncAnswer:
    """An upstream answer as the shared rules read it (status, reason, headers), with its open httpx response."""

    status: int
    reason: str | None
    headers: urllib3.HTTPHeaderDict
    response: httpx.Response


async def _request_chunks(request: HttpRequest, length: int, chunk_size: int) -> AsyncIterator[bytes]:
    """The request body from Django's spooled file: in memory, read at once; on disk, each read in a thread."""
    on_disk = length > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    remaining = length
    while remaining > 0:
        size = min(chunk_size, remaining)
        chunk = await asyncio.to_thread(request.read, size) if on_disk else request.read(size)
        if not chunk:
            raise UpstreamUnavailable("the client closed the connection during the upload")
        remaining -= len(chunk)
        yield chunk


async def aread_body(request: HttpRequest, length: int) -> bytes:
    """The request body, read whole (a DPoP call's body, small enough to send twice)."""
    return b"".join([chunk async for chunk in _request_chunks(request, length, length)])


async def asend(
    request: HttpRequest,
    method: str,
    url: str,
    headers: dict[str, str],
    length: int,
    chunk_size: int,
    content: bytes | None,
) -> AsyncAnswer:
    """One upstream call; ``content`` is the body when it was read whole (else it is streamed)."""
    body: bytes | AsyncIterator[bytes] | None = content
    if content is None and length:
        body = _request_chunks(request, length, chunk_size)
    if body is not None:
        headers["Content-Length"] = str(length)  # sent as is, never chunked
    client = get_async_proxy_client()
    try:
        response = await client.send(client.build_request(method, url, headers=headers, content=body), stream=True)
    except BFFError:
        raise  # the browser's upload ended early
    except httpx.TimeoutException:
        raise failed_call(method, request, url, timed_out=True) from None
    except httpx.RemoteProtocolError as e:
        if "disconnected" in str(e):  # closed without an answer: like a refused connection
            raise failed_call(method, request, url, cause=type(e).__name__) from None
        raise failed_call(method, request, url, problem="headers that cannot be parsed") from None
    except (httpx.HTTPError, OSError) as e:
        raise failed_call(method, request, url, cause=type(e).__name__) from None
    answer = AsyncAnswer(
        status=response.status_code,
        reason=response.reason_phrase or None,
        headers=urllib3.HTTPHeaderDict([(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]),
        response=response,
    )
    problem = _unreadable(answer)
    if problem:
        await response.aclose()  # its framing cannot be trusted: never reused
        raise failed_call(method, request, url, problem=problem)
    return answer


async def response_chunks(answer: AsyncAnswer, metric_attributes: dict[str, Any] | None = None) -> AsyncIterator[bytes]:
    """The upstream body as it arrives (server-sent events piece by piece), undecoded, without a thread.

    When the browser goes away, the server cancels the response: the
    ``finally`` closes the upstream connection at once. With
    ``metric_attributes``, the body's size is recorded when it ends
    (``http.client.response.body.size``).
    """
    size = 0
    try:
        if "content-length" not in answer.headers:  # a stream, maybe a long quiet one
            await _release_request_thread()
        async for chunk in answer.response.aiter_raw():
            size += len(chunk)
            yield chunk
    except httpx.HTTPError as e:  # the upstream went away mid-body: the browser sees a cut response
        logger.warning("upstream body interrupted: %s", type(e).__name__)
    finally:
        await answer.response.aclose()
        if metric_attributes is not None:
            telemetry.observe("http.client.response.body.size", size, metric_attributes)


async def _release_request_thread() -> None:
    """End the thread Django's ASGI handler keeps for the current request; sync code later in it gets a new one.

    Django runs each request in an asgiref ``ThreadSensitiveContext``: the
    request's sync code (sync middleware, signal receivers, session and
    database reads) runs in one thread made for it, which lives until the
    request ends. While a proxied answer streams, the middleware has run and
    nothing needs that thread: left alone it would be one idle thread per open
    event stream. Its database connections are closed in it (Django's
    connections belong to a thread; under ASGI they are not kept between
    requests anyway), then it ends. asgiref makes a thread again on demand for
    the sync code at the end of the request (``response.close()`` and the
    ``request_finished`` receivers). Nothing is done outside such a context, or
    in one whose executor its creator owns.
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is None or getattr(context, "_executor", None) is not None:
        return
    executor = SyncToAsync.context_to_thread_executor.get(context)
    if executor is None:
        return
    await asyncio.get_running_loop().run_in_executor(executor, connections.close_all)
    if SyncToAsync.context_to_thread_executor.get(context) is executor:
        del SyncToAsync.context_to_thread_executor[context]
        executor.shutdown(wait=False)  # its thread is idle: it ends at once
