"""The proxy's transport: the upstream connection pool, and the bodies streamed both ways.

In the data flow: the proxy view (:mod:`django_bff.proxy.view`), once the
retriever and the token manager have given the token, sends the upstream
request through :func:`get_proxy_pool` with the browser's body read in chunks
(:class:`_Body`, its length checked first by :func:`_body_length`), refuses an
answer whose framing cannot be trusted (:func:`_unreadable`), and hands the
answer's body to the browser as it arrives (:class:`_UpstreamBody`; under ASGI
:class:`_AsyncUpstreamBody`, whose blocking reads run in the threads of
:func:`_stream_executor`). Neither body is ever held whole.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import certifi
import urllib3
from django.http import HttpRequest
from urllib3.exceptions import HeaderParsingError
from urllib3.util.response import assert_header_parsing

from django_bff import telemetry
from django_bff.conf import bff_settings, per_settings_closing, stop_threads
from django_bff.exceptions import (
    BFFError,
    InvalidContentLength,
    LengthRequired,
    RequestBodyTooLarge,
    UpstreamInvalidResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from django_bff.proxy.headers import _FIELD_VALUE, _TOKEN, UpstreamAnswer
from django_bff.proxy.paths import _loggable

__all__ = ["get_proxy_pool", "failed_call"]

# The proxy package's one logger: docs/proxy.rst names it in its table of log lines.
logger = logging.getLogger("django_bff.proxy")


@per_settings_closing(urllib3.PoolManager.clear)  # its pooled connections
def get_proxy_pool() -> urllib3.PoolManager:
    """The proxy's own connection pool (not the back-channel session), made once per settings.

    urllib3 directly, not requests: nothing of a browser-facing proxy needs what
    requests adds (cookies, redirects, environment proxies, URL re-quoting), and
    its per-call cost is measurable (docs/benchmarks).
    """
    verify = bff_settings.PROXY_VERIFY
    cert = bff_settings.PROXY_CLIENT_CERT
    cert_file, key_file = (cert, None) if isinstance(cert, str) else (tuple(cert) if cert else (None, None))
    size = bff_settings.PROXY_POOL_SIZE
    return urllib3.PoolManager(
        num_pools=size,
        maxsize=size,
        block=False,
        retries=False,
        cert_reqs="CERT_REQUIRED" if verify is not False else "CERT_NONE",
        ca_certs=verify if isinstance(verify, str) else (certifi.where() if verify else None),
        cert_file=cert_file,
        key_file=key_file,
    )


#: Request bodies are read from the server in pieces of at least this size: servers' readers (gunicorn's)
#: cost per call, so 1 MiB reads move an upload about twice as fast as 64 KiB ones (benchmarks, B3).
_UPLOAD_CHUNK = 512 * 1024


class _Body:
    """The request body, read from the server's input in chunks, never whole.

    ``__len__`` makes requests send Content-Length instead of chunked encoding.
    """

    def __init__(self, request: HttpRequest, length: int, chunk_size: int) -> None:
        self.request = request
        self.length = length
        self.chunk_size = chunk_size

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        remaining = self.length
        while remaining > 0:
            chunk = self.request.read(min(self.chunk_size, remaining))
            if not chunk:
                raise UpstreamUnavailable("the client closed the connection during the upload")
            remaining -= len(chunk)
            yield chunk


def _body_length(request: HttpRequest) -> int:
    limit = bff_settings.MAX_REQUEST_BODY
    raw_length = request.META.get("CONTENT_LENGTH") or ""
    if not raw_length:
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            raise LengthRequired("send the request body with a Content-Length")
        return 0
    try:
        length = int(raw_length)
    except ValueError:
        raise InvalidContentLength("invalid Content-Length") from None
    if length < 0:
        raise InvalidContentLength("invalid Content-Length")
    if limit is not None and length > limit:
        raise RequestBodyTooLarge(f"the body is larger than {limit} bytes")
    return length


class _UpstreamBody:
    """The upstream body as the response's content; ``close()`` (called by every
    server when the response ends, even when nothing was read) releases the
    upstream connection."""

    def __init__(
        self, upstream: urllib3.HTTPResponse, chunk_size: int, metric_attributes: dict[str, Any] | None = None
    ) -> None:
        self.upstream = upstream
        self.chunk_size = chunk_size
        #: The browser went away: the body is not read to its end, and that is not the upstream's doing.
        self.abandoned = False
        #: Attributes of ``http.client.response.body.size``, recorded when the body ends (None: not measured).
        self.metric_attributes = metric_attributes

    def __iter__(self) -> Iterator[bytes]:
        return _response_chunks(self)

    def close(self) -> None:
        if not self.upstream.closed and self.upstream.connection is not None:
            _finish(self.upstream, False)

    def interrupt(self) -> None:
        """Wake a read blocked in another thread (a quiet event stream): it ends at once.

        ``HTTPResponse.shutdown()`` (urllib3 >= 2.3) shuts the socket down for
        reading, which ends a ``recv()`` waiting in another thread; closing the
        socket would not.
        """
        self.abandoned = True
        try:
            self.upstream.shutdown()
        except (ValueError, RuntimeError, OSError):
            pass  # already released or closed: nothing waits on it


class _AsyncUpstreamBody(_UpstreamBody):
    def __aiter__(self) -> AsyncIterator[bytes]:
        return _aresponse_chunks(self)

    def __iter__(self) -> Iterator[bytes]:  # pragma: no cover - ASGI reads __aiter__
        raise TypeError("read this body with async for")


def _response_chunks(body: _UpstreamBody) -> Generator[bytes, None, None]:
    """The upstream body as it arrives (server-sent events chunk by chunk), undecoded."""
    upstream, chunk_size = body.upstream, body.chunk_size
    complete = False
    size = 0
    try:
        if upstream.chunked and upstream.supports_chunked_reads():
            for chunk in upstream.read_chunked(chunk_size, decode_content=False):
                size += len(chunk)
                yield chunk
        else:
            while True:
                # No larger than what is left: read1() allocates the size it is asked for.
                left = upstream.length_remaining
                chunk = upstream.read1(min(chunk_size, left) if left else chunk_size, decode_content=False)
                if not chunk:
                    break
                size += len(chunk)
                yield chunk
        complete = not body.abandoned
    except Exception as e:  # the upstream went away mid-body: the browser sees a cut response
        if not body.abandoned:
            logger.warning("upstream body interrupted: %s", type(e).__name__)
    finally:
        _finish(upstream, complete)
        if body.metric_attributes is not None:
            telemetry.observe("http.client.response.body.size", size, body.metric_attributes)


def _finish(upstream: urllib3.HTTPResponse, complete: bool) -> None:
    """Give a fully read connection back to the pool; close one that was not."""
    if complete:
        upstream.release_conn()
    else:
        upstream.close()
        upstream.release_conn()


@per_settings_closing(stop_threads)
def _stream_executor() -> ThreadPoolExecutor:
    """Threads for blocking upstream reads under ASGI, apart from the event loop's default pool.

    A quiet event stream holds its thread until its next event; in the default
    pool (CPUs + 4 threads) a few such streams would stall every other body.
    Made once per settings; a change of the settings shuts it down (the threads
    finish what they read).
    """
    return ThreadPoolExecutor(
        max_workers=max(32, 2 * bff_settings.PROXY_POOL_SIZE), thread_name_prefix="django-bff-stream"
    )


async def _aresponse_chunks(body: _UpstreamBody) -> AsyncIterator[bytes]:
    """The same, for ASGI: each blocking read runs in a thread of :func:`_stream_executor`.

    When the browser goes away, the server cancels the response while a thread
    may be waiting in a read (for the next event of a quiet stream): the read is
    interrupted, so that the thread and the upstream connection come free at
    once, and the generator is closed only after that thread has left it.
    """
    chunks = _response_chunks(body)
    executor = _stream_executor()
    reading: Future[bytes | None] | None = None
    try:
        while True:
            reading = executor.submit(next, chunks, None)
            chunk = await asyncio.wrap_future(reading)
            if chunk is None:
                break
            yield chunk
    finally:
        if reading is not None and not reading.done():
            body.interrupt()
            await asyncio.shield(asyncio.wrap_future(reading))
        chunks.close()


def failed_call(
    method: str, request: HttpRequest, url: str, *, timed_out: bool = False, problem: str | None = None, cause: str = ""
) -> BFFError:
    """The error of an upstream call that failed, logged: the one status mapping of both transports.

    ``problem``: the answer cannot be passed on (502 ``upstream_invalid_response``);
    ``timed_out``: 504 ``upstream_timeout``; else the API cannot be reached (502
    ``upstream_unavailable``, ``cause`` naming why in the log).
    """
    if problem is not None:
        logger.warning("%s %s -> %s answered %s", method, request.path, _loggable(url), problem)
        return UpstreamInvalidResponse(f"the remote API answered {problem}")
    if timed_out:
        logger.warning("%s %s -> %s timed out", method, request.path, _loggable(url))
        return UpstreamTimeout("the remote API did not answer in time")
    logger.warning("%s %s -> %s failed: %s", method, request.path, _loggable(url), cause)
    return UpstreamUnavailable("the remote API cannot be reached")


def _unreadable(upstream: UpstreamAnswer) -> str | None:
    """Why the answer cannot be passed on (its headers or its framing cannot be trusted), or None.

    http.client stops reading headers at the first line it cannot parse (a line
    without a colon, a name with a space): the ones after it, Content-Length
    included, are lost, so the body would end only at the read timeout. An
    invalid or ambiguous Content-Length is the same (RFC 9112 section 6.3: a
    proxy answers 502). A header whose name is not a token, or whose value
    holds a control character (RFC 9110 section 5.5: reject the message or
    replace them), is refused as well: httpx, the async path's client, cannot
    read such an answer at all, and both paths answer alike. The problem names
    the header, never its value.
    """
    original = getattr(upstream, "_original_response", None)
    if original is not None:
        try:
            assert_header_parsing(original.msg)
        except (HeaderParsingError, TypeError):
            return "headers that cannot be parsed"
    headers = upstream.headers
    # All names, then all values, each in one match (both rules are per character); the culprit is
    # looked for only when one fails.
    names_valid = all(headers) and _TOKEN.fullmatch("".join(headers))
    if not (names_valid and _FIELD_VALUE.fullmatch("".join(headers.values()))):
        for name, value in headers.iteritems():
            if not _TOKEN.fullmatch(name):
                return f"a header with an invalid name: {name[:100]!r}"
            if not _FIELD_VALUE.fullmatch(value):
                return f"the header {name[:100]!r} with control characters in its value"
    if "content-length" in headers and "transfer-encoding" not in headers:
        values = {v.strip() for v in ",".join(headers.getlist("content-length")).split(",")}
        if len(values) != 1 or not values.pop().isdigit():
            return "an invalid Content-Length"
    return None
