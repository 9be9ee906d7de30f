from __future__ import annotations

import hashlib
import os

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, include, path

from django_bff.decorators import bff_api
from django_bff.token_manager import aget_user_access_token, get_user_access_token


def _describe(result):  # type: ignore[no-untyped-def]  # a test view; its result is untyped
    # A digest of the token, never the token: responses are scanned for token values.
    digest = hashlib.sha256(result.access_token.encode()).hexdigest() if result.token else None
    return {"token_sha256": digest, "error": result.error.value if result.error else None, "pid": os.getpid()}


def token_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_describe(get_user_access_token(request)))


async def atoken_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_describe(await aget_user_access_token(request)))


def database_down(request: HttpRequest) -> HttpResponse:
    raise OperationalError("connection refused")


@bff_api(require_authentication=False)
def bff_database_down(request: HttpRequest) -> HttpResponse:
    raise OperationalError("connection refused")


def touch_session(request: HttpRequest) -> HttpResponse:
    request.session["touched"] = True
    return HttpResponse("ok")


@bff_api(require_authentication=False)
def bff_touch_session(request: HttpRequest) -> HttpResponse:
    request.session["touched"] = True
    return HttpResponse("ok")


def root_patterns(bff_urls: object = "django_bff.urls") -> list[URLPattern | URLResolver]:
    """The test project's URL patterns, with ``bff_urls`` (the module, or a fresh one built for changed settings)."""
    return [
        path("faults/database-down/", database_down),
        path("faults/bff-database-down/", bff_database_down),
        path("faults/touch-session/", touch_session),
        path("faults/bff-touch-session/", bff_touch_session),
        path("oidc/", include("mozilla_django_oidc.urls")),
        path("", include(bff_urls)),
        path("token/", token_view),
        path("atoken/", atoken_view),
    ]


urlpatterns = root_patterns()
