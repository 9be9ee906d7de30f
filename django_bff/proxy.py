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
   session, without the browser's identity and routing headers unless the route
   opts in (:data:`IDENTITY_HEADERS`): 502 when it cannot connect or its answer's
   headers cannot be read, 504 when it is too slow. The status, headers (less
   :data:`NEVER_RETURNED` ones and those with an invalid name or value; with
   ``X-Content-Type-Options: nosniff``, and ``application/octet-stream`` when
   the API gives no Content-Type) and body come back as they are, 401 and 403
   included. Redirects are not followed.

The hot path, a call whose token needs no refresh, has this I/O budget (pinned
by ``tests/test_proxy_budget.py``): the session (one cache round trip, or one
SQL query with database sessions), the token record (one more), the upstream
call; no user row (the session proves the login:
:func:`django_bff.sessions.session_login`), no write, no lock, no token request.

Header sets are computed once (module constants; the one holding the
anti-forgery header once per settings reload), not per call.

With OpenTelemetry (:mod:`django_bff.telemetry`), every answer is counted
(``bff.proxy.requests``) and the upstream call gets a ``CLIENT`` span, whose
``traceparent`` goes upstream, and the ``http.client.*`` histograms: in-memory
work of the SDK, no I/O on the call's path. Without the ``opentelemetry-api``
package it costs one flag test per call.
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
from concurrent.futures import Future, ThreadPoolExecutor
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
from urllib3.exceptions import HeaderParsingError
from urllib3.util.response import assert_header_parsing

from django_bff import dpop, telemetry
from django_bff.antiforgery import check_antiforgery, check_csrf_header
from django_bff.conf import bff_settings, on_reload
from django_bff.exceptions import (
    BFFError,
    BFFImproperlyConfigured,
    InvalidContentLength,
    InvalidProxyPath,
    LengthRequired,
    RequestBodyTooLarge,
    UpstreamInvalidResponse,
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
    "validate_forward_headers",
    "is_identity_header",
    "UpstreamInvalidResponse",
    "HOP_BY_HOP",
    "NEVER_FORWARDED",
    "SET_BY_BFF",
    "IDENTITY_HEADERS",
    "IDENTITY_HEADER_PREFIXES",
    "NEVER_RETURNED",
    "NEVER_RETURNED_PREFIXES",
]

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("django.security.django_bff")

#: RFC 9110 section 7.6.1, plus headers only a proxy may set: never passed on, either way.
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
#: Request headers never sent upstream, besides the hop-by-hop ones, those the
#: request's ``Connection`` names and the anti-forgery header. No route can opt in.
NEVER_FORWARDED = frozenset({"authorization", "content-length", "cookie", "dpop", "expect", "host"})
#: Request headers the BFF sets itself, from what Django knows about the request.
SET_BY_BFF = frozenset({"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"})
#: Request headers an API could take for an identity, or for a routing decision
#: made by a trusted proxy in front of it: dropped unless a route names them in
#: ``forward_headers``. With :data:`IDENTITY_HEADER_PREFIXES`.
IDENTITY_HEADERS = frozenset(
    {
        "cf-connecting-ip",
        "cf-connecting-ipv6",
        "client-ip",
        "cloudfront-forwarded-proto",
        "cloudfront-viewer-address",
        "fastly-client-ip",
        "fly-client-ip",
        "forwarded",
        "remote-addr",
        "remote-user",
        "true-client-ip",
        "via",
        "x-client-ip",
        "x-cluster-client-ip",
        "x-forwarded",
        "x-host",
        "x-http-host-override",
        "x-http-method",
        "x-http-method-override",
        "x-method-override",
        "x-originating-ip",
        "x-proxyuser-ip",
        "x-real-ip",
        "x-rewrite-url",
    }
)
#: Every request header whose name starts with one of these is dropped as well
#: (identity and routing headers of proxies, gateways and cloud front ends).
IDENTITY_HEADER_PREFIXES = (
    "cf-access-",
    "x-amzn-oidc-",
    "x-appengine-",
    "x-arr-",
    "x-auth-request-",
    "x-azure-",
    "x-envoy-",
    "x-forwarded-",
    "x-goog-authenticated-user-",
    "x-goog-iap-",
    "x-ms-client-principal",
    "x-ms-token-",
    "x-original-",
    "x-remote-",
    "x-webauth-",
)
#: Response headers never returned to the browser, besides the hop-by-hop ones and
#: those the answer's ``Connection`` names: they would act on the BFF's origin
#: (which is the app's, not the API's) or on the server in front of it.
#: ``Content-Length`` is set again from the answer's framing, and
#: ``X-Content-Type-Options`` is always ``nosniff``.
NEVER_RETURNED = frozenset(
    {
        "accept-ch",
        "alt-svc",
        "clear-site-data",
        "content-length",
        "critical-ch",
        "date",
        "nel",
        "report-to",
        "server",
        "service-worker-allowed",
        "set-cookie",
        "set-cookie2",
        "set-login",
        "strict-transport-security",
        "x-accel-redirect",
        "x-content-type-options",
        "x-lighttpd-send-file",
        "x-sendfile",
    }
)
#: Every response header whose name starts with one of these is dropped as well (CORS).
NEVER_RETURNED_PREFIXES = ("access-control-",)

_DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | NEVER_RETURNED
#: RFC 9110 section 5.6.2: a header name.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: RFC 9110 section 5.5: a header value (no control character but HTAB).
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
#: The answer types that carry no body, and so no Content-Type of their own.
_NO_BODY_STATUSES = frozenset({204, 304})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
#: RFC 3986 pchar, less "%": what a segment may hold unencoded.
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"
_SUPPORTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


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


def is_identity_header(name: str) -> bool:
    """Whether the request header ``name`` (lower case) is one an API could take for an identity
    or a trusted proxy's routing decision: :data:`IDENTITY_HEADERS`, :data:`IDENTITY_HEADER_PREFIXES`."""
    return name in IDENTITY_HEADERS or name.startswith(IDENTITY_HEADER_PREFIXES)


def validate_forward_headers(names: Any, antiforgery_header: str) -> frozenset[str]:
    """The lower-case names a route's ``forward_headers`` opts in to, checked.

    Only headers the policy drops as identity or routing headers can be opted in
    to (:func:`is_identity_header`); a header that is forwarded anyway is refused
    too, so that a misspelt name does not go unnoticed. Raises
    :class:`BFFImproperlyConfigured` naming the first name refused.
    """
    if names is None:
        return frozenset()
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple, set, frozenset)):
        raise BFFImproperlyConfigured(f"forward_headers must be a list of header names, not {names!r}")
    accepted = set()
    for name in names:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise BFFImproperlyConfigured(f"forward_headers: {name!r} is not a header name")
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in NEVER_FORWARDED or lower == antiforgery_header.lower():
            raise BFFImproperlyConfigured(f"forward_headers: {name} is never forwarded")
        if lower in SET_BY_BFF:
            raise BFFImproperlyConfigured(f"forward_headers: {name} is set by the BFF, not copied")
        if not is_identity_header(lower):
            raise BFFImproperlyConfigured(
                f"forward_headers: {name} is not an identity or routing header the BFF drops; "
                "nothing to opt in to (response headers cannot be opted in)"
            )
        accepted.add(lower)
    return frozenset(accepted)


@functools.lru_cache(maxsize=1)
def _never_forwarded() -> frozenset[str]:
    return HOP_BY_HOP | NEVER_FORWARDED | {bff_settings.ANTIFORGERY_HEADER.lower()}


on_reload(_never_forwarded.cache_clear)


def _upstream_headers(request: HttpRequest, token_headers: dict[str, str], forward: frozenset[str]) -> dict[str, str]:
    never = _never_forwarded()
    connection = request.headers.get("Connection")
    if connection:
        never = never | {h.strip().lower() for h in connection.split(",")}
    headers = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in never:
            continue
        # is_identity_header(), inlined: this runs for every header of every call.
        if lower in forward or not (lower in IDENTITY_HEADERS or lower.startswith(IDENTITY_HEADER_PREFIXES)):
            headers[name] = value
    headers["X-Forwarded-For"] = str(request.META.get("REMOTE_ADDR", ""))
    headers["X-Forwarded-Proto"] = request.scheme or "http"
    headers["X-Forwarded-Host"] = request.get_host()
    headers.update(token_headers)
    return headers


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
    #: Identity or routing headers this route forwards after all (see :func:`validate_forward_headers`).
    forward_headers: frozenset[str] = frozenset()
    #: The route's prefix (``http.route`` in the metrics and spans); :func:`remote_api` sets it.
    route: str | None = None

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
        initkwargs["forward_headers"] = validate_forward_headers(
            initkwargs.get("forward_headers", cls.forward_headers), bff_settings.ANTIFORGERY_HEADER
        )
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
        response = self._dispatch(request, path)
        if telemetry.ENABLED:
            attributes = {
                "http.route": self.route_name(),
                "http.request.method": request.method,
                "bff.status_class": telemetry.status_class(response.status_code),
            }
            telemetry.record("bff.proxy.requests", attributes)
        return response

    def route_name(self) -> str:
        """The route as metrics and spans name it: its prefix, else its target."""
        return self.route if self.route is not None else str(self.upstream)

    def _dispatch(self, request: HttpRequest, path: str) -> HttpResponseBase:
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
        if self.require_authentication and not _logged_in(request):
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
        if telemetry.ENABLED:
            return self._traced(request, method, url, result, length, chunk_size)
        started = time.monotonic()
        upstream = self.call_upstream(request, method, url, result, length, chunk_size)
        self._log(request, method, url, upstream.status, started)
        return self.make_response(request, upstream, chunk_size)

    def call_upstream(
        self, request: HttpRequest, method: str, url: str, result: Any, length: int, chunk_size: int
    ) -> urllib3.HTTPResponse:
        """The upstream call, and one more with the API's DPoP nonce when it asks for one."""
        upstream = self.send(request, method, url, result, length, chunk_size)
        nonce = dpop.wants_nonce(upstream.status, upstream.headers) if isinstance(result, DPoPTokenResult) else None
        if nonce is not None and not length:
            # RFC 9449 section 9: the API wants a nonce in the proof; one more try.
            _finish(upstream, False)
            upstream = self.send(request, method, url, result, length, chunk_size, nonce)
        return upstream

    def _log(self, request: HttpRequest, method: str, url: str, status: int, started: float) -> None:
        if logger.isEnabledFor(logging.INFO):  # the URL is rebuilt without its query only when it is logged
            elapsed = (time.monotonic() - started) * 1000
            logger.info("%s %s -> %s %s in %.0f ms", method, request.path, _loggable(url), status, elapsed)

    def _traced(
        self, request: HttpRequest, method: str, url: str, result: Any, length: int, chunk_size: int
    ) -> HttpResponseBase:
        """:meth:`proxy`'s upstream part with a ``CLIENT`` span and the ``http.client.*`` metrics."""
        attributes: dict[str, Any] = {
            "http.request.method": method,
            **telemetry.server_attributes(url),
            "http.route": self.route_name(),
        }
        started = time.monotonic()
        with telemetry.span(f"{method} {self.route_name()}", {**attributes, "url.full": _loggable(url)}) as span:
            try:
                upstream = self.call_upstream(request, method, url, result, length, chunk_size)
            except BFFError as e:
                span.error(e.default_code)
                telemetry.observe(
                    "http.client.request.duration", span.elapsed, {**attributes, "error.type": e.default_code}
                )
                raise
            attributes["http.response.status_code"] = upstream.status
            span.set("http.response.status_code", upstream.status)
            if upstream.status >= 500:
                span.error(str(upstream.status))
        telemetry.observe("http.client.request.duration", time.monotonic() - started, attributes)
        telemetry.observe("http.client.request.body.size", length, attributes)
        self._log(request, method, url, upstream.status, started)
        return self.make_response(request, upstream, chunk_size, attributes)

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
        headers = _upstream_headers(request, _token_headers(result, method, url, nonce), self.forward_headers)
        telemetry.inject(headers)  # the upstream span's W3C traceparent, when there is one
        body = _Body(request, length, max(chunk_size, _UPLOAD_CHUNK)) if length else None
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
        except urllib3.exceptions.InvalidHeader:  # conflicting Content-Length values
            logger.warning("%s %s -> %s answered an invalid Content-Length", method, request.path, _loggable(url))
            raise UpstreamInvalidResponse("the remote API answered an invalid Content-Length") from None
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
        problem = _unreadable(response)
        if problem:
            _finish(response, False)  # its framing cannot be trusted: never reused
            logger.warning("%s %s -> %s answered %s", method, request.path, _loggable(url), problem)
            raise UpstreamInvalidResponse(f"the remote API answered {problem}")
        return response

    def make_response(
        self,
        request: HttpRequest,
        upstream: urllib3.HTTPResponse,
        chunk_size: int,
        metric_attributes: dict[str, Any] | None = None,
    ) -> HttpResponseBase:
        content: Any
        if isinstance(request, ASGIRequest):
            content = _AsyncUpstreamBody(upstream, chunk_size, metric_attributes)
        else:
            content = _UpstreamBody(upstream, chunk_size, metric_attributes)
        response = StreamingHttpResponse(content, status=upstream.status)
        upstream_headers = upstream.headers
        dropped = _DROPPED_RESPONSE_HEADERS
        connection = upstream_headers.get("Connection")
        if connection:
            dropped = dropped | {h.strip().lower() for h in connection.split(",")}
        typed = False
        for name in upstream_headers:
            lower = name.lower()
            if lower in dropped or lower.startswith(NEVER_RETURNED_PREFIXES):
                continue
            if not _TOKEN.fullmatch(name):
                logger.warning("dropped an upstream header with an invalid name: %r", name[:100])
                continue
            # A header sent several times becomes one, comma-joined (RFC 9110 section 5.3).
            value = ", ".join(upstream_headers.getlist(name))
            if not _FIELD_VALUE.fullmatch(value):
                logger.warning("dropped the upstream header %r: its value holds control characters", name[:100])
                continue
            response[name] = value
            typed = typed or (lower == "content-type" and bool(value.strip()))
        if not typed:
            # Never Django's text/html: an untyped answer would run as a page of the BFF's origin.
            if upstream.status in _NO_BODY_STATUSES:
                del response["Content-Type"]
            else:
                response["Content-Type"] = "application/octet-stream"
        response["X-Content-Type-Options"] = "nosniff"
        if "transfer-encoding" not in upstream_headers:
            length = upstream_headers.get("Content-Length")
            if length:
                response["Content-Length"] = length.split(",", 1)[0].strip()  # checked by _unreadable()
        if upstream.reason and _FIELD_VALUE.fullmatch(upstream.reason):
            response.reason_phrase = upstream.reason
        return response


def _unreadable(upstream: urllib3.HTTPResponse) -> str | None:
    """Why the answer cannot be passed on (its headers or its framing cannot be trusted), or None.

    http.client stops reading headers at the first line it cannot parse (a line
    without a colon, a name with a space): the ones after it, Content-Length
    included, are lost, so the body would end only at the read timeout. An
    invalid or ambiguous Content-Length is the same (RFC 9112 section 6.3: a
    proxy answers 502).
    """
    original = getattr(upstream, "_original_response", None)
    if original is not None:
        try:
            assert_header_parsing(original.msg)
        except (HeaderParsingError, TypeError):
            return "headers that cannot be parsed"
    headers = upstream.headers
    if "content-length" in headers and "transfer-encoding" not in headers:
        values = {v.strip() for v in ",".join(headers.getlist("content-length")).split(",")}
        if len(values) != 1 or not values.pop().isdigit():
            return "an invalid Content-Length"
    return None


def _logged_in(request: HttpRequest) -> bool:
    """Whether someone is logged in: from the session alone when it can tell (no user row), else request.user."""
    from django_bff.sessions import session_login

    decided = session_login(request)
    return decided if decided is not None else bool(request.user.is_authenticated)


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
    options.setdefault("route", prefix)
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
                forward_headers=entry.get("FORWARD_HEADERS"),
            )
        )
    return routes


on_reload(settings_routes.cache_clear)
