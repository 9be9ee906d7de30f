"""The three benchmarked paths share one upstream: ``bff/`` (django_bff) and ``revproxy/``."""

from __future__ import annotations

from django.conf import settings
from django.urls import path
from revproxy.views import ProxyView  # type: ignore[import-untyped]

from django_bff.proxy import remote_api
from django_bff.tokens import TokenType

UPSTREAM = settings.UPSTREAM

urlpatterns = [
    remote_api("bff/", UPSTREAM + "/", token_type=TokenType.USER, allow_insecure=True),
    path("revproxy/<path:path>", ProxyView.as_view(upstream=UPSTREAM + "/")),
]
