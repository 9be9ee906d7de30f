"""``django_bff.middleware.SessionMiddleware``: Django's session middleware, aware of the BFF.

In the data flow: before every view and after it. It loads the session that the
proxy, the token manager and the stores read, and saves it once the view has
answered.

Use it in ``MIDDLEWARE`` in place of ``django.contrib.sessions.middleware.SessionMiddleware``::

    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "django_bff.middleware.SessionMiddleware",
        ...
    ]

It saves sessions exactly as Django's does, and besides:

* a view may ask for the session *not* to slide on this request
  (:func:`dont_slide`, which ``/bff/user?slide=false`` uses): with
  ``SESSION_SAVE_EVERY_REQUEST = True`` Django would save the session, and so
  extend it, on every request whatever the view does. An unmodified session is
  then not saved (its cookie is not sent again); a modified one still is, since
  its changes must not be lost;
* before a BFF session is saved it records when the session will expire
  (``bff:session_expires_in`` of ``/bff/user``) and moves the session index's
  bound forward when the session has slid past it (:mod:`django_bff.sessions`);
* when the session storage (or the database, or the cache) cannot be reached,
  the BFF's own endpoints (``/bff/...``, the OIDC callback, remote API routes,
  ``@bff_api`` views) answer ``503`` with ``Retry-After`` and
  ``{"error": "storage_unavailable"}`` instead of an HTML ``500``; other views
  are left to Django. With the ``cache`` session engine, a session the cache
  cannot serve is such an outage, not an empty session
  (:func:`django_bff.faults.strict_session_store`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from django_bff.faults import is_storage_error, storage_unavailable, strict_session_store
from django_bff.responses import response_for
from django_bff.sessions import note_session_saved

__all__ = ["SessionMiddleware", "dont_slide", "will_slide", "is_bff_endpoint"]

_NO_SLIDE_ATTR = "_bff_dont_slide"


def dont_slide(request: HttpRequest) -> None:
    """Do not save (extend) this request's session unless it was modified."""
    setattr(request, _NO_SLIDE_ATTR, True)


def will_slide(request: HttpRequest) -> bool:
    """Whether the session middleware will save (so extend) this request's session."""
    session = request.session
    if getattr(request, _NO_SLIDE_ATTR, False) and not session.modified:
        return False
    return bool(session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


def is_bff_endpoint(request: HttpRequest) -> bool:
    """Whether ``request`` was routed to one of the BFF's own views (a ``bff_endpoint`` view or ``@bff_api``)."""
    match = getattr(request, "resolver_match", None)
    func: Any = getattr(match, "func", None)
    if func is None:
        return False
    return bool(getattr(func, "bff_api", False) or getattr(getattr(func, "view_class", None), "bff_endpoint", False))


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's ``SessionMiddleware`` plus :func:`dont_slide`, expiry tracking and storage outages."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self.SessionStore = strict_session_store(self.SessionStore)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_storage_error(exception) and is_bff_endpoint(request):
            return response_for(storage_unavailable(exception, f"{request.method} {request.path[:200]!r}"))
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is None:
            return response
        if getattr(request, _NO_SLIDE_ATTR, False) and not session.modified:
            if session.accessed:
                patch_vary_headers(response, ("Cookie",))
            return response
        try:
            if will_slide(request) and response.status_code != 500 and not session.is_empty():
                note_session_saved(request)
            return super().process_response(request, response)
        except Exception as e:
            if not (is_storage_error(e) and is_bff_endpoint(request)):
                raise
            response.close()  # a proxied answer releases its upstream connection
            return response_for(storage_unavailable(e, f"saving the session of {request.path[:200]!r}"))
