"""``django_bff.middleware.SessionMiddleware``: Django's session middleware, aware of the BFF.

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
  bound forward when the session has slid past it (:mod:`django_bff.sessions`).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from django_bff.sessions import note_session_saved

__all__ = ["SessionMiddleware", "dont_slide", "will_slide"]

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


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's ``SessionMiddleware`` plus :func:`dont_slide` and expiry tracking."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is None:
            return response
        if getattr(request, _NO_SLIDE_ATTR, False) and not session.modified:
            if session.accessed:
                patch_vary_headers(response, ("Cookie",))
            return response
        if will_slide(request) and response.status_code != 500 and not session.is_empty():
            note_session_saved(request)
        return super().process_response(request, response)
