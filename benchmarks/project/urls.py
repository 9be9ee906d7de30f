"""The benchmarked paths share one upstream.

* ``null/``: a view answering 1 KiB through the same middleware, after ``?work_ms`` of work (N);
* ``null-session/``: the same, after reading the user and a token from the session (NS);
* ``revproxy/``: django-revproxy, no token (R);
* ``revproxy-session/``: django-revproxy with the user's token from the session, the way
  projects glue it together today (mozilla-django-oidc's ``OIDC_STORE_ACCESS_TOKEN``) (RS);
* ``bff/``: django_bff's ``remote_api(..., token_type=USER)``;
* ``live/`` and ``ws/`` (B4, ``live.py``, when their upstreams are set): the same kind of
  route to the event-stream upstream, and a WebSocket route (``ws://`` target) to its echo.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from revproxy.views import ProxyView  # type: ignore[import-untyped]  # ships no types

from django_bff.proxy import remote_api
from django_bff.tokens import TokenType

UPSTREAM = settings.UPSTREAM
BODY = (b'{"data":"' + b"x" * 1013 + b'"}')[:1024]


def _work(request: HttpRequest) -> None:
    """``?work_ms=N``: the view does the work the upstream does on the proxied paths."""
    try:
        work_ms = float(request.GET.get("work_ms", "0"))
    except ValueError:
        work_ms = 0.0
    if work_ms > 0:
        time.sleep(min(work_ms, 1000.0) / 1000.0)


def null(request: HttpRequest, rest: str = "") -> HttpResponse:
    _work(request)
    return HttpResponse(BODY, content_type="application/json")


def null_session(request: HttpRequest, rest: str = "") -> HttpResponse:
    if not request.user.is_authenticated or not request.session.get("oidc_access_token"):
        return JsonResponse({"error": "not_authenticated"}, status=401)
    _work(request)
    return HttpResponse(BODY, content_type="application/json")


class SessionTokenProxyView(ProxyView):  # type: ignore[misc]  # an untyped base (Any)
    """django-revproxy plus the access token mozilla-django-oidc keeps in the session."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not request.user.is_authenticated:
            return JsonResponse({"error": "not_authenticated"}, status=401)
        return super().dispatch(request, *args, **kwargs)

    def get_request_headers(self) -> dict[str, str]:
        headers: dict[str, str] = super().get_request_headers()
        headers["Authorization"] = f"Bearer {self.request.session['oidc_access_token']}"
        return headers


urlpatterns = [
    path("null/<path:rest>", null),
    path("null-session/<path:rest>", null_session),
    remote_api("bff/", UPSTREAM + "/", token_type=TokenType.USER, allow_insecure=True),
    path("revproxy/<path:path>", ProxyView.as_view(upstream=UPSTREAM + "/")),
    path("revproxy-session/<path:path>", SessionTokenProxyView.as_view(upstream=UPSTREAM + "/")),
]

if settings.LIVE_UPSTREAM:
    urlpatterns.append(
        remote_api("live/", settings.LIVE_UPSTREAM + "/", token_type=TokenType.USER, allow_insecure=True)
    )
if settings.WS_UPSTREAM:
    urlpatterns.append(remote_api("ws/", settings.WS_UPSTREAM + "/", token_type=TokenType.USER, allow_insecure=True))
