"""Remote API routes: the browser's ``/api/...`` calls, proxied with the right token.

Reference: ``app.MapRemoteBffApiEndpoint(local, remote).RequireAccessToken(TokenType.User)
.WithAccessTokenRetriever<T>()``. Here::

    urlpatterns = [
        remote_api("api/orders/", "https://orders.example.com/v1/", token_type=TokenType.USER),
    ]

A call goes through these steps, in order, and stops at the first that fails:

0. the method: GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS, else 405;
1. the anti-forgery header (``X-CSRF: 1``): else 401, before any token work
   (a route with ``antiforgery=False``: Django's CSRF token from its header, else 403);
   a route with ``require_authentication``: 401 for an anonymous user;
2. the path: decoded once, refused (400) when it holds ``.``/``..`` segments,
   empty segments, backslashes, control characters, encoded slashes or a
   ``%`` left after decoding; the upstream URL is then built from the checked
   segments and proven to keep the target's scheme, host, port and path prefix;
3. the body: 400 for a bad Content-Length, 413 over ``BFF["MAX_REQUEST_BODY"]``,
   411 for a chunked upload;
4. the token, from the route's retriever (401, or 503 with Retry-After);
5. the upstream call, streamed both ways through the proxy's own pooled
   session: 502 when it cannot connect, 504 when it is too slow. The status,
   headers (less Set-Cookie and hop-by-hop ones) and body come back as they are,
   401 and 403 included. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
import time
import unicodedata
from collections.abc import AsyncIterator, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit, urlunsplit

import certifi
import urllib3
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import URLPattern, re_path
from django.utils.decorators import classonlymethod
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from django_bff import dpop
from django_bff.conf import bff_settings, on_reload
from django_bff.exceptions import (
    AntiforgeryRequired,
    BFFError,
    BFFImproperlyConfigured,
    CsrfFailed,
    InvalidContentLength,
    InvalidProxyPath,
    LengthRequired,
    RequestBodyTooLarge,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from django_bff.responses import error_response, response_for
from django_bff.retrievers import (
    AccessTokenRetrievalContext,
    AccessTokenRetrievalError,
    AccessTokenRetriever,
    BearerTokenResult,
    DPoPTokenResult,
    NoAccessTokenResult,
    resolve_retriever_class,
    retriever_class_for,
)
from django_bff.tokens import TokenType, UserTokenRequestParameters

__all__ = [
    "remote_api",
    "RemoteAPIView",
    "get_proxy_pool",
    "build_upstream_url",
    "check_antiforgery",
    "check_csrf_header",
    "settings_routes",
]

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("django.security.django_bff")

#: RFC 9110 section 7.6.1, plus headers only a proxy may set.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Never sent upstream, whatever the browser sent.
_DROPPED_REQUEST_HEADERS = HOP_BY_HOP | {
    "host",
    "expect",
    "cookie",
    "authorization",
    "dpop",
    "content-length",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-real-ip",
}
#: Never sent back to the browser.
#: ``date`` and ``server`` are the BFF's own server's to set (and the upstream's version is nobody's business).
_DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {"set-cookie", "set-cookie2", "content-length", "date", "server"}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
#: RFC 3986 pchar, less "%": what a segment may hold unencoded.
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"
_SUPPORTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# --- the anti-forgery header ------------------------------------------------------------


def check_antiforgery(request: HttpRequest) -> None:
    """Raise :class:`AntiforgeryRequired` unless the request carries the anti-forgery header.

    A cross-site page cannot send a custom header without a CORS preflight, which
    the BFF never grants, so its presence proves the call came from our own app.
    """
    name = bff_settings.ANTIFORGERY_HEADER
    if request.headers.get(name) != bff_settings.ANTIFORGERY_VALUE:
        security_logger.info(
            "BFF API call without the %s header refused: %s %r", name, request.method, request.path[:200]
        )
        raise AntiforgeryRequired(f"the {name} header is required")


def check_csrf_header(request: HttpRequest) -> None:
    """Django's CSRF check, with the token from its header (``X-CSRFToken``), never from the body.

    For routes that opt out of the anti-forgery header. The body is what the proxy
    forwards, so it must not be parsed here: the check runs as for a PUT, whose
    token Django only looks for in the header.
    """
    from django.middleware.csrf import CsrfViewMiddleware

    method = request.method
    if method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return
    request.method = "PUT" if method == "POST" else method
    try:
        refusal = CsrfViewMiddleware(lambda r: None).process_view(request, lambda r: None, (), {})  # type: ignore[arg-type,return-value]
    finally:
        request.method = method
    if refusal is not None:
        raise CsrfFailed("CSRF token missing or incorrect")


# --- the path -------------------------------------------------------------------------------


def _raw_path(request: HttpRequest) -> str | None:
    """The path exactly as the client sent it, when the server tells us (gunicorn, uvicorn)."""
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if raw:
        return str(raw).split("?", 1)[0]
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and isinstance(scope.get("raw_path"), bytes):
        return str(scope["raw_path"].decode("latin-1"))
    return None


def _check_segment(segment: str) -> None:
    if segment == "":
        raise InvalidProxyPath("empty path segment")
    base = segment.split(";", 1)[0]  # "..;/" is ".." to some servers
    if base.strip(".") == "":
        raise InvalidProxyPath("dot segment")
    # An upstream that NFKC-normalises would read U+FF0E as "." and U+FF0F as "/".
    normalized = unicodedata.normalize("NFKC", segment)
    if any(c in normalized for c in "/\\%") or normalized.split(";", 1)[0].strip(".") == "":
        raise InvalidProxyPath("a segment that normalises to a separator or a dot segment")


def build_upstream_url(target: str, path: str, query: str = "", raw_path: str | None = None) -> str:
    """The upstream URL for ``path`` (already decoded once) below ``target``.

    ``raw_path`` is the path as the client sent it, without the query, when the
    server tells us (it lets encoded slashes and non-UTF-8 bytes be refused).

    Raises :class:`InvalidProxyPath` for anything that could leave the target or
    that the upstream might read differently from us.
    """
    if raw_path is not None:
        if _ENCODED_SEPARATOR.search(raw_path):
            raise InvalidProxyPath("encoded slash or backslash")
        try:
            unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            # Servers disagree on what to make of such bytes (uvicorn: U+FFFD).
            raise InvalidProxyPath("the path is not UTF-8") from None
    if _CONTROL.search(path) or "\\" in path:
        raise InvalidProxyPath("control character or backslash")
    if "%" in path:
        raise InvalidProxyPath("percent sign left after decoding (double encoding)")
    if _CONTROL.search(unquote(query)):
        raise InvalidProxyPath("control character in the query")
    if _MALFORMED_ESCAPE.search(query):
        # requests would re-encode every "%" of such a query, changing its meaning.
        raise InvalidProxyPath("malformed percent escape in the query")
    segments = path.split("/") if path else []
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash is kept below
        trailing = True
    else:
        trailing = False
    for segment in segments:
        _check_segment(segment)
    base = urlsplit(target)
    base_path = base.path if base.path.endswith("/") else base.path + "/"
    suffix = "/".join(quote(s, safe=_SEGMENT_SAFE) for s in segments)
    if trailing and suffix:
        suffix += "/"
    new_path = base_path + suffix if suffix else (base.path or "/")
    url = urlunsplit((base.scheme, base.netloc, new_path, query, ""))
    final = urlsplit(url)
    # Proof, not trust: the URL that leaves is on the target's origin and below its path.
    if (final.scheme, final.hostname, final.port) != (base.scheme, base.hostname, base.port):
        raise InvalidProxyPath("the URL left the target's origin")
    if not (final.path == base.path or final.path.startswith(base_path)):
        raise InvalidProxyPath("the URL left the target's path")
    return url


# --- the upstream connection pool --------------------------------------------------------

_pool_lock = threading.Lock()
_pool: urllib3.PoolManager | None = None


def get_proxy_pool() -> urllib3.PoolManager:
    """The proxy's own connection pool (not the back-channel session), made once per settings.

    urllib3 directly, not requests: nothing of a browser-facing proxy needs what
    requests adds (cookies, redirects, environment proxies, URL re-quoting), and
    its per-call cost is measurable (docs/benchmarks).
    """
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                verify = bff_settings.PROXY_VERIFY
                cert = bff_settings.PROXY_CLIENT_CERT
                cert_file, key_file = (cert, None) if isinstance(cert, str) else (tuple(cert) if cert else (None, None))
                size = int(bff_settings.PROXY_POOL_SIZE)
                _pool = urllib3.PoolManager(
                    num_pools=size,
                    maxsize=size,
                    block=False,
                    retries=False,
                    cert_reqs="CERT_REQUIRED" if verify is not False else "CERT_NONE",
                    ca_certs=verify if isinstance(verify, str) else (certifi.where() if verify else None),
                    cert_file=cert_file,
                    key_file=key_file,
                )
    return _pool


@on_reload
def _forget_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.clear()  # its pooled connections
        _pool = None


# --- request and response plumbing ------------------------------------------------------


def _upstream_headers(request: HttpRequest, token_headers: dict[str, str]) -> dict[str, str]:
    named_in_connection = {h.strip().lower() for h in request.headers.get("Connection", "").split(",") if h.strip()}
    dropped = _DROPPED_REQUEST_HEADERS | named_in_connection | {bff_settings.ANTIFORGERY_HEADER.lower()}
    headers = {name: value for name, value in request.headers.items() if name.lower() not in dropped}
    headers["X-Forwarded-For"] = str(request.META.get("REMOTE_ADDR", ""))
    headers["X-Forwarded-Proto"] = request.scheme or "http"
    headers["X-Forwarded-Host"] = request.get_host()
    headers.update(token_headers)
    return headers


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

    def __init__(self, upstream: urllib3.HTTPResponse, chunk_size: int) -> None:
        self.upstream = upstream
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[bytes]:
        return _response_chunks(self.upstream, self.chunk_size)

    def close(self) -> None:
        if not self.upstream.closed and self.upstream.connection is not None:
            _finish(self.upstream, False)


class _AsyncUpstreamBody(_UpstreamBody):
    def __aiter__(self) -> AsyncIterator[bytes]:
        return _aresponse_chunks(self.upstream, self.chunk_size)

    def __iter__(self) -> Iterator[bytes]:  # pragma: no cover - ASGI reads __aiter__
        raise TypeError("read this body with async for")


def _response_chunks(upstream: urllib3.HTTPResponse, chunk_size: int) -> Generator[bytes, None, None]:
    """The upstream body as it arrives (server-sent events chunk by chunk), undecoded."""
    complete = False
    try:
        if upstream.chunked and upstream.supports_chunked_reads():
            yield from upstream.read_chunked(chunk_size, decode_content=False)
        else:
            while True:
                chunk = upstream.read1(chunk_size, decode_content=False)
                if not chunk:
                    break
                yield chunk
        complete = True
    except Exception as e:  # the upstream went away mid-body: the browser sees a cut response
        logger.warning("upstream body interrupted: %s", type(e).__name__)
    finally:
        _finish(upstream, complete)


def _finish(upstream: urllib3.HTTPResponse, complete: bool) -> None:
    """Give a fully read connection back to the pool; close one that was not."""
    if complete:
        upstream.release_conn()
    else:
        upstream.close()
        upstream.release_conn()


_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _stream_executor() -> ThreadPoolExecutor:
    """Threads for blocking upstream reads under ASGI, apart from the event loop's default pool.

    A quiet event stream holds its thread until its next event; in the default
    pool (CPUs + 4 threads) a few such streams would stall every other body.
    """
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                size = max(32, 2 * int(bff_settings.PROXY_POOL_SIZE))
                _executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="django-bff-stream")
    return _executor


async def _aresponse_chunks(upstream: urllib3.HTTPResponse, chunk_size: int) -> AsyncIterator[bytes]:
    """The same, for ASGI: each blocking read runs in a thread of :func:`_stream_executor`."""
    chunks = _response_chunks(upstream, chunk_size)
    loop = asyncio.get_running_loop()
    executor = _stream_executor()
    try:
        while True:
            chunk = await loop.run_in_executor(executor, next, chunks, None)
            if chunk is None:
                break
            yield chunk
    finally:
        await asyncio.shield(loop.run_in_executor(executor, chunks.close))


def _token_headers(result: Any, method: str, url: str, nonce: str | None = None) -> dict[str, str]:
    if isinstance(result, BearerTokenResult):
        return {"Authorization": f"Bearer {result.access_token}"}
    if isinstance(result, DPoPTokenResult):
        proof = dpop.make_proof(result.dpop_jwk, method, url, result.access_token, nonce)
        return {"Authorization": f"DPoP {result.access_token}", "DPoP": proof}
    return {}


# --- the view -------------------------------------------------------------------------------


class RemoteAPIView(View):
    """Proxies every method under a route to ``upstream``. Made by :func:`remote_api`."""

    upstream: str | None = None
    token_type: TokenType = TokenType.USER
    optional: bool = False
    retriever_class: Any = None
    client: str = "default"
    antiforgery: bool = True
    require_authentication: bool = False
    allow_insecure: bool | None = None
    user_token_request_parameters: UserTokenRequestParameters | None = None

    @classonlymethod
    def as_view(cls, **initkwargs: Any) -> Any:
        upstream = initkwargs.get("upstream", cls.upstream)
        _validate_target(upstream, initkwargs.get("allow_insecure", cls.allow_insecure))
        if "token_type" in initkwargs:
            initkwargs["token_type"] = TokenType(initkwargs["token_type"])
        if initkwargs.get("retriever_class") is not None:
            initkwargs["retriever_class"] = resolve_retriever_class(initkwargs["retriever_class"])
        for name in ("optional", "antiforgery", "require_authentication"):
            if not isinstance(initkwargs.get(name, getattr(cls, name)), bool):
                raise BFFImproperlyConfigured(f"remote API option {name} must be True or False")
        from django_bff.clients import client_names

        client = initkwargs.get("client", cls.client)
        if client not in client_names():
            raise BFFImproperlyConfigured(f'unknown client {client!r}: add it to BFF["CLIENTS"]')
        # Exempt from CsrfViewMiddleware always: it would parse a form body (and so
        # consume the stream we forward). The view checks instead: the anti-forgery
        # header, or with antiforgery=False Django's CSRF token from its header.
        return csrf_exempt(super().as_view(**initkwargs))

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = error_response(405, "method_not_allowed")
        response["Allow"] = ", ".join(sorted(_SUPPORTED_METHODS))
        return response

    def get_retriever(self, local_path: str) -> AccessTokenRetriever:
        """A fresh retriever per request: the route's, else a matching pattern's, else the default."""
        return retriever_class_for(self.retriever_class, local_path)()

    def dispatch(self, request: HttpRequest, *args: Any, path: str = "", **kwargs: Any) -> HttpResponseBase:
        if request.method not in _SUPPORTED_METHODS:
            return self.http_method_not_allowed(request)
        try:
            return self.proxy(request, path)
        except BFFError as e:
            if isinstance(e, InvalidProxyPath):
                # %r: a refused path may hold control characters meant to forge log lines.
                security_logger.warning("refused proxy path %r: %s", request.path[:200], e)
            elif e.status_code >= 500 and not isinstance(e, (UpstreamUnavailable, UpstreamTimeout)):
                logger.error("proxy misconfigured for %r: %s", request.path[:200], e)
            return response_for(e)

    def proxy(self, request: HttpRequest, path: str) -> HttpResponseBase:
        assert self.upstream is not None
        if self.antiforgery:
            check_antiforgery(request)
        else:
            check_csrf_header(request)
        if self.require_authentication and not request.user.is_authenticated:
            return error_response(401, "not_authenticated")
        url = build_upstream_url(self.upstream, path, request.META.get("QUERY_STRING", ""), _raw_path(request))
        length = _body_length(request)

        context = AccessTokenRetrievalContext(
            request=request,
            local_path=request.path,
            api_address=self.upstream,
            token_type=self.token_type,
            optional=self.optional,
            user_token_request_parameters=self.user_token_request_parameters or UserTokenRequestParameters(),
            client_name=self.client,
        )
        result = self.get_retriever(request.path).get_access_token(context)
        if isinstance(result, AccessTokenRetrievalError):
            return error_response(result.status_code, result.error, result.retry_after)
        if not isinstance(result, (BearerTokenResult, DPoPTokenResult, NoAccessTokenResult)):
            raise BFFImproperlyConfigured(f"the retriever returned {type(result).__name__}, not an AccessTokenResult")

        method = str(request.method)
        chunk_size = int(bff_settings.PROXY_CHUNK_SIZE)
        started = time.monotonic()
        upstream = self.send(request, method, url, result, length, chunk_size)
        nonce = dpop.wants_nonce(upstream.status, upstream.headers) if isinstance(result, DPoPTokenResult) else None
        if nonce is not None and not length:
            # RFC 9449 section 9: the API wants a nonce in the proof; one more try.
            _finish(upstream, False)
            upstream = self.send(request, method, url, result, length, chunk_size, nonce)
        logger.info(
            "%s %s -> %s %s in %.0f ms",
            method,
            request.path,
            _loggable(url),
            upstream.status,
            (time.monotonic() - started) * 1000,
        )
        return self.make_response(request, upstream, chunk_size)

    def send(
        self,
        request: HttpRequest,
        method: str,
        url: str,
        result: Any,
        length: int,
        chunk_size: int,
        nonce: str | None = None,
    ) -> urllib3.HTTPResponse:
        headers = _upstream_headers(request, _token_headers(result, method, url, nonce))
        body = _Body(request, length, chunk_size) if length else None
        if body is not None:
            headers["Content-Length"] = str(length)  # sent as is, never chunked
        try:
            response = get_proxy_pool().urlopen(
                method,
                url,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
                timeout=urllib3.Timeout(
                    connect=float(bff_settings.PROXY_CONNECT_TIMEOUT), read=float(bff_settings.PROXY_READ_TIMEOUT)
                ),
            )
            assert isinstance(response, urllib3.HTTPResponse)
            return response
        except (urllib3.exceptions.HTTPError, OSError) as e:
            cause = getattr(e, "reason", None) or e
            # NewConnectionError (refused, no route, no such host) is a ConnectTimeoutError subclass: 502, not 504.
            timed_out = isinstance(cause, urllib3.exceptions.TimeoutError) and not isinstance(
                cause, urllib3.exceptions.NewConnectionError
            )
            if timed_out:
                logger.warning("%s %s -> %s timed out", method, request.path, _loggable(url))
                raise UpstreamTimeout("the remote API did not answer in time") from None
            logger.warning("%s %s -> %s failed: %s", method, request.path, _loggable(url), type(e).__name__)
            raise UpstreamUnavailable("the remote API cannot be reached") from None

    def make_response(self, request: HttpRequest, upstream: urllib3.HTTPResponse, chunk_size: int) -> HttpResponseBase:
        content: Any
        if isinstance(request, ASGIRequest):
            content = _AsyncUpstreamBody(upstream, chunk_size)
        else:
            content = _UpstreamBody(upstream, chunk_size)
        response = StreamingHttpResponse(content, status=upstream.status)
        named_in_connection = {h.strip().lower() for h in upstream.headers.get("Connection", "").split(",")}
        dropped = _DROPPED_RESPONSE_HEADERS | named_in_connection
        for name in upstream.headers:
            if name.lower() not in dropped:
                # A header sent several times becomes one, comma-joined (RFC 9110 section 5.3).
                response[name] = ", ".join(upstream.headers.getlist(name))
        length = upstream.headers.get("Content-Length")
        if length and length.isdigit() and "chunked" not in upstream.headers.get("Transfer-Encoding", ""):
            response["Content-Length"] = length
        if upstream.reason:
            response.reason_phrase = upstream.reason
        return response


def _loggable(url: str) -> str:
    """The URL without its query string (which may carry secrets)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _validate_target(target: Any, allow_insecure: bool | None) -> None:
    from django.conf import settings

    if not isinstance(target, str):
        raise BFFImproperlyConfigured(f"a remote API target must be a URL string, got {target!r}")
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment or parts.username:
        raise BFFImproperlyConfigured(f"the remote API target {target!r} is not an absolute http(s) URL")
    if parts.scheme == "http":
        allowed = allow_insecure if allow_insecure is not None else bff_settings.ALLOW_INSECURE_UPSTREAMS
        if not (allowed or settings.DEBUG):
            raise BFFImproperlyConfigured(
                f"the remote API target {target!r} is not https; set allow_insecure=True "
                'or BFF["ALLOW_INSECURE_UPSTREAMS"] to allow it'
            )


def remote_api(
    prefix: str,
    target: str,
    *,
    token_type: TokenType | str = TokenType.USER,
    optional: bool = False,
    retriever: type[AccessTokenRetriever] | str | None = None,
    name: str | None = None,
    **options: Any,
) -> URLPattern:
    """A URL pattern that proxies ``prefix`` and everything below it to ``target``.

    ``options`` are further :class:`RemoteAPIView` attributes: ``client`` (the
    client-credentials client for CLIENT routes), ``antiforgery`` (False opts the
    route out of the header check; Django's CSRF token is then required in the
    ``X-CSRFToken`` header for unsafe methods), ``require_authentication`` (True:
    401 ``not_authenticated`` for anonymous users whatever the token type, e.g.
    a CLIENT route only logged-in users may call),
    ``allow_insecure`` (an ``http://`` target outside DEBUG),
    ``user_token_request_parameters``. Unknown options are refused.
    """
    if not isinstance(prefix, str) or prefix.startswith("/"):
        raise BFFImproperlyConfigured(f"remote_api prefix {prefix!r} must be a relative path like 'api/orders/'")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    view = RemoteAPIView.as_view(
        upstream=target, token_type=token_type, optional=optional, retriever_class=retriever, **options
    )
    # (?s:...): "." must match a newline too, so that such a path reaches the view (and its 400).
    pattern: URLPattern = re_path(rf"^{re.escape(prefix)}(?P<path>(?s:.*))\Z", view, name=name)
    return pattern


@functools.lru_cache(maxsize=1)
def settings_routes() -> list[URLPattern]:
    """The routes of ``BFF["REMOTE_APIS"]``, most specific prefix first."""
    routes = []
    for entry in sorted(bff_settings.REMOTE_APIS, key=lambda e: -len(str(e.get("PREFIX", "")))):
        routes.append(
            remote_api(
                entry["PREFIX"],
                entry["TARGET"],
                token_type=entry.get("TOKEN_TYPE", TokenType.USER),
                optional=entry.get("OPTIONAL", False),
                retriever=entry.get("RETRIEVER"),
                client=entry.get("CLIENT", "default"),
                antiforgery=entry.get("ANTIFORGERY", True),
                require_authentication=entry.get("REQUIRE_AUTHENTICATION", False),
                allow_insecure=entry.get("ALLOW_INSECURE"),
            )
        )
    return routes


on_reload(settings_routes.cache_clear)
