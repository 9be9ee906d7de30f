"""A WebSocket handshake's checks, in order, before anything goes upstream: origin, session, path, token.

In the data flow: :class:`~django_bff.asgi.BFFApplication` found the route of a
``websocket`` scope and calls :func:`check_handshake`, which runs the steps of
a proxied HTTP call that apply to a WebSocket, with the same modules: the
``Origin`` (in place of the anti-forgery header, which a browser cannot add to
a WebSocket), the session from its cookie, the path
(:mod:`django_bff.proxy.paths`), the route's retriever
(:mod:`django_bff.retrievers`, asking the token manager's async twins) and the
header policy (:mod:`django_bff.proxy.headers`). What it returns is what
:mod:`django_bff.asgi.websocket` connects with; a refusal is a
:class:`Refused` with the status the browser gets.

1. ``Origin`` must be the request's own scheme and host (``Host`` checked
   against ``ALLOWED_HOSTS``), or one of ``BFF["WEBSOCKET_ALLOWED_ORIGINS"]``:
   403 ``origin_not_allowed`` otherwise (a missing ``Origin`` too), before the
   session is even read;
2. the session, from its cookie (``SESSION_ENGINE``, read with its async
   methods); a route with ``require_authentication``: 401 for an anonymous user;
3. the path, as for HTTP: 400 ``invalid_path``;
4. the token: the route's retriever (401, 502 or 503 as for HTTP);
5. the upstream request's headers: the header policy of HTTP calls (no
   ``Cookie``, no browser ``Authorization``, no identity headers unless the
   route opts in, ``X-Forwarded-*`` set), less the browser's own
   ``Sec-WebSocket-*`` handshake headers, plus the token (``Authorization:
   Bearer``, or ``DPoP`` with a proof for ``GET`` on the target's
   ``http(s)`` URL and the API's remembered nonce).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import auth
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.utils.functional import SimpleLazyObject

from django_bff import dpop
from django_bff.conf import bff_settings
from django_bff.dpop_nonces import nonce_for, origin_scope
from django_bff.exceptions import InvalidProxyPath
from django_bff.faults import is_storage_error
from django_bff.proxy.headers import _upstream_headers
from django_bff.proxy.paths import _raw_path, build_upstream_url
from django_bff.retrievers import (
    AccessTokenResult,
    AccessTokenRetrievalError,
    BearerTokenResult,
    DPoPTokenResult,
    NoAccessTokenResult,
)
from django_bff.sessions import _session_store, asession_login

__all__ = ["Refused", "Handshake", "check_handshake"]

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("django.security.django_bff")


class Refused(Exception):
    """The handshake is refused with ``status`` and ``{"error": code}``, before anything goes upstream."""

    def __init__(self, status: int, code: str, retry_after: int | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.retry_after = status, code, retry_after


@dataclass(frozen=True, repr=False)
class Handshake:
    """What the checks let through: where to connect, with which headers, and the session to watch."""

    url: str
    headers: list[tuple[str, str]]
    subprotocols: list[str]
    #: The session key of a logged-in session, whose end closes the socket; None: nothing to watch.
    watched_session: str | None
    #: A DPoP-bound token, whose proof is made again when the upstream asks for a nonce.
    dpop: DPoPTokenResult | None = None

    def __repr__(self) -> str:  # the headers hold the token
        return f"Handshake(url={urlsplit(self.url).path!r}, ...)"


def _origin(value: str) -> str:
    parts = urlsplit(value.strip())
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


def _own_origin_allowed(request: ASGIRequest) -> bool:
    """Whether the request's ``Origin`` is its own scheme and host or one of ``BFF["WEBSOCKET_ALLOWED_ORIGINS"]``."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    try:
        own = f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return False
    allowed = {_origin(own)} | {_origin(o) for o in bff_settings.WEBSOCKET_ALLOWED_ORIGINS}
    return _origin(origin) in allowed


def _http_url(url: str) -> str:
    """The ``http(s)`` URL of a ``ws(s)`` one: what a DPoP proof's ``htu`` names for the handshake's GET."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def _request(scope: Any) -> ASGIRequest:
    """The handshake as a Django request (a GET without a body), with its session and lazy user."""
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "ws"), "http")
    request = ASGIRequest({**scope, "type": "http", "method": "GET", "scheme": scheme}, io.BytesIO())
    request.session = _session_store(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    request.user = SimpleLazyObject(partial(auth.get_user, request))  # type: ignore[assignment]  # django-stubs types it as a user, not lazy
    request.auser = partial(auth.aget_user, request)
    return request


async def _logged_in(request: ASGIRequest) -> bool:
    decided = await asession_login(request)
    if decided is not None:
        return decided
    user = await request.auser()
    return bool(user.is_authenticated)


def _token_headers(result: AccessTokenResult, url: str, nonce: str | None) -> list[tuple[str, str]]:
    if isinstance(result, BearerTokenResult):
        return [("Authorization", f"Bearer {result.access_token}")]
    if isinstance(result, DPoPTokenResult):
        proof = dpop.make_proof(result.dpop_jwk, "GET", _http_url(url), result.access_token, nonce)
        return [("Authorization", f"DPoP {result.access_token}"), ("DPoP", proof)]
    return []


async def check_handshake(scope: Any, view: Any, path: str) -> Handshake:
    """The checks of a handshake to ``view``'s route (a :class:`~django_bff.proxy.RemoteAPIView`) for ``path``.

    Raises :class:`Refused` at the first that fails.
    """
    request = _request(scope)
    if not _own_origin_allowed(request):
        security_logger.warning(
            "WebSocket refused: Origin %r is not allowed for %r",
            request.headers.get("Origin", "")[:200],
            request.path[:200],
        )
        raise Refused(403, "origin_not_allowed")
    try:
        logged_in = await _logged_in(request)
    except Exception as e:
        if is_storage_error(e):
            raise Refused(503, "storage_unavailable", bff_settings.RETRY_AFTER) from None
        raise
    if view.require_authentication and not logged_in:
        raise Refused(401, "not_authenticated")
    try:
        url = build_upstream_url(view.upstream, path, request.META.get("QUERY_STRING", ""), _raw_path(request))
    except InvalidProxyPath as e:
        security_logger.warning("refused WebSocket path %r: %s", request.path[:200], e)
        raise Refused(400, "invalid_path") from None
    result = await view.get_retriever(request.path).aget_access_token(view.retrieval_context(request))
    if isinstance(result, AccessTokenRetrievalError):
        raise Refused(result.status_code, result.error, result.retry_after)
    if not isinstance(result, (BearerTokenResult, DPoPTokenResult, NoAccessTokenResult)):
        raise TypeError(f"the retriever returned {type(result).__name__}, not an AccessTokenResult")
    nonce = None
    if isinstance(result, DPoPTokenResult):
        nonce = await sync_to_async(nonce_for)(origin_scope(_http_url(url)))
    headers = [
        (name, value)
        for name, value in _upstream_headers(request, {}, view.forward_headers).items()
        if not name.lower().startswith("sec-websocket-")
    ]
    key = request.session.session_key
    return Handshake(
        url=url,
        headers=headers + _token_headers(result, url, nonce),
        subprotocols=[str(p) for p in scope.get("subprotocols") or []],
        watched_session=key if logged_in and key else None,
        dpop=result if isinstance(result, DPoPTokenResult) else None,
    )
