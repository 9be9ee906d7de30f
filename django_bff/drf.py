"""A Django REST framework permission for BFF API endpoints.

In the data flow: an entry point for Django REST framework views, with the
checks of ``@bff_api`` (:mod:`django_bff.antiforgery`) before the view runs.

::

    from rest_framework.views import APIView
    from django_bff.drf import BFFAPIPermission

    class Orders(APIView):
        permission_classes = [BFFAPIPermission]

It requires the anti-forgery header (401 ``antiforgery_header_required``) and an
authenticated user (401 ``not_authenticated``), both as JSON; 401 rather than
DRF's usual 403 for session authentication, so a browser app knows to log in.
Subclass it with ``require_authentication = False`` for anonymous endpoints.
With session authentication, DRF's own CSRF check still runs for unsafe methods
(``SessionAuthentication.enforce_csrf``); use
:class:`BFFSessionAuthentication` to let the header be the CSRF defence instead.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.authentication import SessionAuthentication

from django_bff.antiforgery import check_antiforgery
from django_bff.exceptions import AntiforgeryRequired

__all__ = ["BFFAPIPermission", "BFFSessionAuthentication", "AntiforgeryFailed", "NotAuthenticated"]


class AntiforgeryFailed(exceptions.APIException):
    status_code = 401
    default_detail = "The anti-forgery header is required."
    default_code = "antiforgery_header_required"


class NotAuthenticated(exceptions.APIException):
    status_code = 401
    default_detail = "Authentication is required."
    default_code = "not_authenticated"


class BFFAPIPermission(permissions.BasePermission):
    require_authentication = True

    def has_permission(self, request: Any, view: Any) -> bool:
        try:
            check_antiforgery(request._request)
        except AntiforgeryRequired:
            raise AntiforgeryFailed() from None
        if self.require_authentication and not (request.user and request.user.is_authenticated):
            raise NotAuthenticated()
        return True


class BFFSessionAuthentication(SessionAuthentication):
    """Session authentication whose CSRF defence is the anti-forgery header (checked by the permission)."""

    def enforce_csrf(self, request: Any) -> None:
        try:
            check_antiforgery(request._request)
        except AntiforgeryRequired:
            raise AntiforgeryFailed() from None

    def authenticate_header(self, request: Any) -> str:
        return 'BFF realm="api"'
