from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.test import RequestFactory

from django_bff.decorators import bff_api


@bff_api
def orders(request: HttpRequest) -> JsonResponse:
    if request.GET.get("deny"):
        raise PermissionDenied
    return JsonResponse({"ok": True})


@bff_api(require_authentication=False)
def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@bff_api(antiforgery=False)
def no_header(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@bff_api
async def async_orders(request: HttpRequest) -> JsonResponse:
    if request.GET.get("deny"):
        raise PermissionDenied
    return JsonResponse({"ok": True})


def make(user: Any = None, **headers: Any) -> HttpRequest:
    request = RequestFactory().get("/", **headers)
    request.user = user or AnonymousUser()

    async def auser() -> Any:
        return request.user

    request.auser = auser  # type: ignore[attr-defined]
    return request


class LoggedIn:
    is_authenticated = True


def test_header_and_authentication_are_required() -> None:
    missing = orders(make(LoggedIn()))
    assert missing.status_code == 401 and missing.content == b'{"error": "antiforgery_header_required"}'
    anonymous = orders(make(HTTP_X_CSRF="1"))
    assert anonymous.status_code == 401 and anonymous.content == b'{"error": "not_authenticated"}'
    assert anonymous["Cache-Control"] == "no-store"
    assert orders(make(LoggedIn(), HTTP_X_CSRF="1")).status_code == 200


def test_permission_denied_is_json_403() -> None:
    request = RequestFactory().get("/?deny=1", HTTP_X_CSRF="1")
    request.user = LoggedIn()
    response = orders(request)
    assert response.status_code == 403 and response.content == b'{"error": "permission_denied"}'


def test_options() -> None:
    assert public(make(HTTP_X_CSRF="1")).status_code == 200
    assert public(make()).status_code == 401
    assert no_header(make(LoggedIn())).status_code == 200
    assert getattr(orders, "csrf_exempt", False) and not getattr(no_header, "csrf_exempt", False)
    assert orders.bff_api is True  # type: ignore[attr-defined]


def test_async_views() -> None:
    assert async_to_sync(async_orders)(make(LoggedIn(), HTTP_X_CSRF="1")).status_code == 200
    assert async_to_sync(async_orders)(make(LoggedIn())).status_code == 401
    assert async_to_sync(async_orders)(make(HTTP_X_CSRF="1")).status_code == 401
    request = make(LoggedIn(), HTTP_X_CSRF="1")
    request.GET = request.GET.copy()
    request.GET["deny"] = "1"
    assert async_to_sync(async_orders)(request).status_code == 403
    bare = RequestFactory().get("/", HTTP_X_CSRF="1")
    bare.user = LoggedIn()  # no auser(): read in a thread
    assert async_to_sync(async_orders)(bare).status_code == 200


@pytest.mark.django_db
def test_drf_permission_and_authentication(user: Any) -> None:
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory, force_authenticate
    from rest_framework.views import APIView

    from django_bff.drf import BFFAPIPermission, BFFSessionAuthentication

    class Orders(APIView):
        authentication_classes = [BFFSessionAuthentication]
        permission_classes = [BFFAPIPermission]

        def post(self, request: Any) -> Response:
            return Response({"ok": True})

    view = Orders.as_view()
    factory = APIRequestFactory()
    missing = view(factory.post("/orders", {}, format="json"))
    assert missing.status_code == 401 and missing.data["detail"].code == "antiforgery_header_required"
    anonymous = view(factory.post("/orders", {}, format="json", HTTP_X_CSRF="1"))
    assert anonymous.status_code == 401 and anonymous.data["detail"].code == "not_authenticated"
    request = factory.post("/orders", {}, format="json", HTTP_X_CSRF="1")
    force_authenticate(request, user)
    assert view(request).status_code == 200

    # Session authentication: the header is the CSRF defence, no Django CSRF token needed.
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django_bff.auth.BFFAuthenticationBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.save()
    for headers, status in (({"HTTP_X_CSRF": "1"}, 200), ({}, 401)):
        request = factory.post("/orders", {}, format="json", **headers)
        request.session = SessionStore(session.session_key)
        from django.contrib.auth.middleware import AuthenticationMiddleware

        AuthenticationMiddleware(lambda r: None).process_request(request)
        assert view(request).status_code == status
