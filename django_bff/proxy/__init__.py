"""Remote API routes: the browser's ``/api/...`` calls, proxied with the right token.

In the data flow: where a browser's ``/api/...`` call starts, and its answer
leaves. The steps below run top to bottom; each asks the layer under it.

Reference: ``app.MapRemoteBffApiEndpoint(local, remote).RequireAccessToken(TokenType.User)
.WithAccessTokenRetriever<T>()``. Here::

    urlpatterns = [
        remote_api(
            "api/orders/", "https://orders.example.com/v1/", token_type=TokenType.USER
        ),
    ]

A call goes through these steps, in order, and stops at the first that fails
(the module that does each is named at its end):

0. the method: GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS, else 405;
1. the anti-forgery header (``X-CSRF: 1``): else 401, before any token work
   (a route with ``antiforgery=False``: Django's CSRF token from its header, else 403;
   both checks are :mod:`django_bff.antiforgery`, shared by every BFF endpoint);
   a route with ``require_authentication``: 401 for an anonymous user;
2. the path: decoded once, refused (400) when it holds ``.``/``..`` segments,
   empty segments, backslashes, control characters, encoded slashes or a
   ``%`` left after decoding; the upstream URL is then built from the checked
   segments and proven to keep the target's scheme, host, port and path prefix
   (:mod:`django_bff.proxy.paths`);
3. the body: 400 for a bad Content-Length, 413 over ``BFF["MAX_REQUEST_BODY"]``,
   411 for a chunked upload (:mod:`django_bff.proxy.transport`);
4. the token, from the route's retriever, which asks the token manager
   (401, or 503 with Retry-After; :mod:`django_bff.retrievers`);
5. the upstream call, streamed both ways through the proxy's own pooled
   session, without the browser's identity and routing headers unless the route
   opts in (:data:`IDENTITY_HEADERS`): 502 when it cannot connect or its answer's
   headers cannot be read, 504 when it is too slow. The status, headers (less
   :data:`NEVER_RETURNED` ones and those with an invalid name or value; with
   ``X-Content-Type-Options: nosniff``, and ``application/octet-stream`` when
   the API gives no Content-Type) and body come back as they are, 401 and 403
   included. Redirects are not followed. The headers both ways are
   :mod:`django_bff.proxy.headers`, the pool and the streamed bodies
   :mod:`django_bff.proxy.transport`. A DPoP token's call carries a fresh
   proof and the API's nonce, and is sent once more when the API asks for a
   new nonce and its body is small enough to send twice
   (:mod:`django_bff.proxy.dpop`).

The view that runs these steps, :class:`RemoteAPIView`, and the helpers that
make its routes, :func:`remote_api` and :func:`settings_routes`, are in
:mod:`django_bff.proxy.view`. Every name of this package's ``__all__`` is
importable from ``django_bff.proxy``.

The hot path, a call whose token needs no refresh, has this I/O budget (pinned
by ``tests/proxy/test_budget.py``): the session (one cache round trip, or one
SQL query with database sessions), the token record (one more), the upstream
call; no user row (the session proves the login:
:func:`django_bff.sessions.session_login`), no write, no lock, no token request.

A call with a DPoP-bound token (:mod:`django_bff.proxy.dpop`) costs one cache
round trip more, the API's remembered nonce, and a proof signed in memory;
a write only when the API gives a new nonce, and one more upstream call when
it refuses the nonce sent (once per nonce lifetime, not per call). A bearer
call never reads a nonce.

Header sets are computed once (module constants of
:mod:`django_bff.proxy.headers`; the one holding the anti-forgery header once
per settings reload), not per call.

With OpenTelemetry (:mod:`django_bff.telemetry`; the hooks are in the view),
every answer is counted (``bff.proxy.requests``) and the upstream call gets a
``CLIENT`` span, whose ``traceparent`` goes upstream, and the ``http.client.*``
histograms: in-memory work of the SDK, no I/O on the call's path. Without the
``opentelemetry-api`` package it costs one flag test per call.
"""

from __future__ import annotations

from django_bff.antiforgery import check_antiforgery, check_csrf_header
from django_bff.exceptions import UpstreamInvalidResponse
from django_bff.proxy.headers import (
    HOP_BY_HOP,
    IDENTITY_HEADER_PREFIXES,
    IDENTITY_HEADERS,
    NEVER_FORWARDED,
    NEVER_RETURNED,
    NEVER_RETURNED_PREFIXES,
    SET_BY_BFF,
    is_identity_header,
    validate_forward_headers,
)
from django_bff.proxy.paths import build_upstream_url
from django_bff.proxy.transport import get_proxy_pool
from django_bff.proxy.view import RemoteAPIView, remote_api, settings_routes

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
