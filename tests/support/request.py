"""A request as Django's middleware hands it to a view, for tests that call django_bff directly."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.test import RequestFactory

__all__ = ["new_request"]


def new_request(user: Any = None, session_key: str | None = None, path: str = "/") -> HttpRequest:
    """A request with a session (``session_key``'s, or a new one) and a user (anonymous by default)."""
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get(path)
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(session_key)
    if session_key is None:
        request.session.create() if not settings.SESSION_ENGINE.endswith("signed_cookies") else None
    request.user = user if user is not None else AnonymousUser()
    return request
