"""The proxy view: a route of the browser's ``/api/...`` calls, proxied to a remote API with a token attached.

In the data flow it is where a call starts: :class:`RemoteAPIView` runs the
steps of :mod:`django_bff.proxy` in order (anti-forgery check, path, body, then
the retriever, which asks the token manager for the token, then the upstream
call and the streamed answer), and turns every :class:`~django_bff.exceptions.BFFError`
into its JSON answer. :func:`remote_api` and :func:`settings_routes` make its
routes; OpenTelemetry's hooks (a counter per answer, a ``CLIENT`` span per
upstream call) are here too.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import urllib3
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import URLPattern, re_path
from django.utils.decorators import classonlymethod
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from django_bff import telemetry
from django_bff.antiforgery import check_antiforgery, check_csrf_header
from django_bff.conf import bff_settings
from django_bff.exceptions import (
    BFFError,
    BFFImproperlyConfigured,
    InvalidProxyPath,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from django_bff.proxy.async_view import ProxyView
from django_bff.proxy.calls import traced_flow
from django_bff.proxy.dpop import ThreadSender, call_with_proof
from django_bff.proxy.headers import _copy_response_headers, _upstream_headers, token_headers, validate_forward_headers
from django_bff.proxy.paths import _is_websocket_target, _loggable, _raw_path, _validate_target, build_upstream_url
from django_bff.proxy.transport import (
    _UPLOAD_CHUNK,
    _AsyncUpstreamBody,
    _Body,
    _body_length,
    _finish,
    _unreadable,
    _UpstreamBody,
    failed_call,
    get_proxy_pool,
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
from django_bff.token_manager.flow import run_sync
from django_bff.tokens import TokenType, UserTokenRequestParameters

__all__ = ["remote_api", "RemoteAPIView", "settings_routes"]

# The proxy package's one logger: docs/proxy.rst names it in its table of log lines.
logger = logging.getLogger("django_bff.proxy")
security_logger = logging.getLogger("django.security.django_bff")

_SUPPORTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RemoteAPIView(View):
    """Proxies every method under a route to ``upstream``. Made by :func:`remote_api`."""

    #: The methods proxied; any other is answered 405.
    supported_methods = _SUPPORTED_METHODS

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
        return ProxyView(csrf_exempt(super().as_view(**initkwargs)))

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = error_response(405, "method_not_allowed")
        response["Allow"] = ", ".join(sorted(_SUPPORTED_METHODS))
        return response

    def get_retriever(self, local_path: str) -> AccessTokenRetriever:
        """A fresh retriever per request: the route's, else a matching pattern's, else the default."""
        return retriever_class_for(self.retriever_class, local_path)()

    def dispatch(self, request: HttpRequest, *args: Any, path: str = "", **kwargs: Any) -> HttpResponseBase:
        return self.counted(request, self._dispatch(request, path))

    def counted(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """``response``, counted in ``bff.proxy.requests`` when OpenTelemetry is on (both paths)."""
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
        if _is_websocket_target(self.upstream):  # django_bff.asgi.BFFApplication proxies its WebSocket connections
            return error_response(426, "websocket_required")
        if request.method not in _SUPPORTED_METHODS:
            return self.http_method_not_allowed(request)
        try:
            return self.proxy(request, path)
        except BFFError as e:
            return self.failed(request, e)

    def failed(self, request: HttpRequest, e: BFFError) -> HttpResponseBase:
        """The answer to a call that stopped at ``e`` (both paths), logged where it needs to be."""
        if isinstance(e, InvalidProxyPath):
            # %r: a refused path may hold control characters meant to forge log lines.
            security_logger.warning("refused proxy path %r: %s", request.path[:200], e)
        elif e.status_code >= 500 and not isinstance(e, (UpstreamUnavailable, UpstreamTimeout)):
            logger.error("proxy misconfigured for %r: %s", request.path[:200], e)
        return response_for(e)

    def proxy(self, request: HttpRequest, path: str) -> HttpResponseBase:
        self.check_request(request)
        if self.require_authentication and not _logged_in(request):
            return error_response(401, "not_authenticated")
        url, length, context = self.prepare(request, path)
        result = self.get_retriever(request.path).get_access_token(context)
        refused = self.refused_result(result)
        if refused is not None:
            return refused

        method = str(request.method)
        chunk_size = bff_settings.PROXY_CHUNK_SIZE
        if telemetry.ENABLED:
            return self._traced(request, method, url, result, length, chunk_size)
        started = time.monotonic()
        upstream = self.call_upstream(request, method, url, result, length, chunk_size)
        self._log(request, method, url, upstream.status, started)
        return self.make_response(request, upstream, chunk_size)

    def check_request(self, request: HttpRequest) -> None:
        """Step 1 (both paths): the anti-forgery header, or Django's CSRF token on a route without it."""
        assert self.upstream is not None
        if self.antiforgery:
            check_antiforgery(request)
        else:
            check_csrf_header(request)

    def prepare(self, request: HttpRequest, path: str) -> tuple[str, int, AccessTokenRetrievalContext]:
        """Steps 2 and 3 (both paths, no I/O): the upstream URL, the body's length, the retriever's context."""
        assert self.upstream is not None
        url = build_upstream_url(self.upstream, path, request.META.get("QUERY_STRING", ""), _raw_path(request))
        length = _body_length(request)
        return url, length, self.retrieval_context(request)

    def retrieval_context(self, request: HttpRequest) -> AccessTokenRetrievalContext:
        """What the route's retriever is asked with (the HTTP proxy and the WebSocket handshake alike)."""
        assert self.upstream is not None
        return AccessTokenRetrievalContext(
            request=request,
            local_path=request.path,
            api_address=self.upstream,
            token_type=self.token_type,
            optional=self.optional,
            user_token_request_parameters=self.user_token_request_parameters or UserTokenRequestParameters(),
            client_name=self.client,
        )

    @staticmethod
    def refused_result(result: Any) -> HttpResponseBase | None:
        """Step 4's answer when the retriever gave no token to send (both paths); None when it did."""
        if isinstance(result, AccessTokenRetrievalError):
            return error_response(result.status_code, result.error, result.retry_after)
        if not isinstance(result, (BearerTokenResult, DPoPTokenResult, NoAccessTokenResult)):
            raise BFFImproperlyConfigured(f"the retriever returned {type(result).__name__}, not an AccessTokenResult")
        return None

    def call_upstream(
        self, request: HttpRequest, method: str, url: str, result: Any, length: int, chunk_size: int
    ) -> urllib3.HTTPResponse:
        """The upstream call; a DPoP call with the API's nonce, and one retry when it asks for a new one."""
        if isinstance(result, DPoPTokenResult):
            return call_with_proof(
                request,
                url,
                length,
                lambda nonce, content: self.send(request, method, url, result, length, chunk_size, nonce, content),
            )
        return self.send(request, method, url, result, length, chunk_size)

    def _log(self, request: HttpRequest, method: str, url: str, status: int, started: float) -> None:
        if logger.isEnabledFor(logging.INFO):  # the URL is rebuilt without its query only when it is logged
            elapsed = (time.monotonic() - started) * 1000
            logger.info("%s %s -> %s %s in %.0f ms", method, request.path, _loggable(url), status, elapsed)

    def _traced(
        self, request: HttpRequest, method: str, url: str, result: Any, length: int, chunk_size: int
    ) -> HttpResponseBase:
        """:meth:`proxy`'s upstream part with a ``CLIENT`` span and the ``http.client.*`` metrics."""
        started = time.monotonic()
        sender = ThreadSender(
            request, lambda nonce, content: self.send(request, method, url, result, length, chunk_size, nonce, content)
        )
        upstream, attributes = run_sync(traced_flow(self.route_name(), method, url, result, length, sender))
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
        content: bytes | None = None,
    ) -> urllib3.HTTPResponse:
        """One upstream call; ``content`` is the body when it was read whole (else it is streamed)."""
        headers = _upstream_headers(request, token_headers(result, method, url, nonce), self.forward_headers)
        telemetry.inject(headers)  # the upstream span's W3C traceparent, when there is one
        body: Any = content
        if content is None and length:
            body = _Body(request, length, max(chunk_size, _UPLOAD_CHUNK))
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
                    connect=bff_settings.PROXY_CONNECT_TIMEOUT, read=bff_settings.PROXY_READ_TIMEOUT
                ),
            )
            assert isinstance(response, urllib3.HTTPResponse)
        except urllib3.exceptions.InvalidHeader:  # conflicting Content-Length values
            raise failed_call(method, request, url, problem="an invalid Content-Length") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            cause = getattr(e, "reason", None) or e
            # NewConnectionError (refused, no route, no such host) is a ConnectTimeoutError subclass: 502, not 504.
            timed_out = isinstance(cause, urllib3.exceptions.TimeoutError) and not isinstance(
                cause, urllib3.exceptions.NewConnectionError
            )
            raise failed_call(method, request, url, timed_out=timed_out, cause=type(e).__name__) from None
        problem = _unreadable(response)
        if problem:
            _finish(response, False)  # its framing cannot be trusted: never reused
            raise failed_call(method, request, url, problem=problem)
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
        _copy_response_headers(response, upstream)
        return response


def _logged_in(request: HttpRequest) -> bool:
    """Whether someone is logged in: from the session alone when it can tell (no user row), else request.user."""
    from django_bff.sessions import session_login

    decided = session_login(request)
    return decided if decided is not None else bool(request.user.is_authenticated)


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


def settings_routes() -> list[URLPattern]:
    """The routes of ``BFF["REMOTE_APIS"]``, most specific prefix first.

    Made from :func:`~django_bff.proxy.routes.parse_remote_apis`: an entry the
    system checks report is left out (``manage.py check`` names it), never
    raised at the import of the URLconf.
    """
    from django_bff.proxy.routes import parse_remote_apis

    return [
        remote_api(
            route.prefix,
            route.target,
            token_type=route.token_type,
            optional=route.optional,
            retriever=route.retriever,
            client=route.client,
            antiforgery=route.antiforgery,
            require_authentication=route.require_authentication,
            allow_insecure=route.allow_insecure,
            forward_headers=route.forward_headers,
        )
        for route in parse_remote_apis(bff_settings.user_settings).items
    ]
