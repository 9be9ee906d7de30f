"""``@bff_api``: local Django views as BFF API endpoints.

In the data flow: an entry point, as the proxy view is one: a browser call to a
local view passes :mod:`django_bff.antiforgery` here, then the view runs (and
may call an API itself with :mod:`django_bff.http`).

Reference: Duende's BFF API endpoints (``.AsBffApiEndpoint()``): the anti-forgery
header is required, and an unauthenticated call answers 401 instead of a
redirect to a login page, which a browser app's ``fetch`` could not follow::

    from django_bff.decorators import bff_api

    @bff_api
    def orders(request):
        return JsonResponse({"orders": [...]})

    @bff_api(require_authentication=False)
    def public_status(request): ...

Errors are JSON: 401 ``{"error": "antiforgery_header_required"}``, 401
``{"error": "not_authenticated"}``, and 403 ``{"error": "permission_denied"}``
when the view raises ``PermissionDenied``. The view is CSRF-exempt because the
header is the CSRF defence; ``antiforgery=False`` opts a view out of the header,
and Django's CSRF check then applies as usual. Works with sync and async views.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from django_bff.antiforgery import check_antiforgery
from django_bff.exceptions import AntiforgeryRequired
from django_bff.responses import error_response, response_for

__all__ = ["bff_api"]

F = TypeVar("F", bound=Callable[..., Any])


def _refusal(
    request: HttpRequest, user: Any, antiforgery: bool, require_authentication: bool
) -> HttpResponseBase | None:
    if antiforgery:
        try:
            check_antiforgery(request)
        except AntiforgeryRequired as e:
            return response_for(e)
    if require_authentication and not (user is not None and user.is_authenticated):
        return error_response(401, "not_authenticated")
    return None


def _wrap(view: F, antiforgery: bool, require_authentication: bool) -> F:
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            auser = getattr(request, "auser", None)
            user = await auser() if auser else await sync_to_async(lambda: getattr(request, "user", None))()
            refusal = _refusal(request, user, antiforgery, require_authentication)
            if refusal is not None:
                return refusal
            try:
                response: HttpResponseBase = await view(request, *args, **kwargs)
                return response
            except PermissionDenied:
                return error_response(403, "permission_denied")

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(view)
        def sync_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            refusal = _refusal(request, getattr(request, "user", None), antiforgery, require_authentication)
            if refusal is not None:
                return refusal
            try:
                response: HttpResponseBase = view(request, *args, **kwargs)
                return response
            except PermissionDenied:
                return error_response(403, "permission_denied")

        wrapper = sync_wrapper
    wrapper.bff_api = True
    return cast(F, csrf_exempt(wrapper) if antiforgery else wrapper)


@overload
def bff_api(view: F) -> F: ...
@overload
def bff_api(*, antiforgery: bool = True, require_authentication: bool = True) -> Callable[[F], F]: ...


def bff_api(view: Any = None, *, antiforgery: bool = True, require_authentication: bool = True) -> Any:
    """Make a view a BFF API endpoint (see the module documentation)."""
    if view is not None:
        return _wrap(view, antiforgery, require_authentication)
    return lambda v: _wrap(v, antiforgery, require_authentication)
