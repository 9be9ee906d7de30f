"""What the demo page shows about itself, computed by the server: cookies as set, tokens as fingerprints, events.

The page cannot see ``Set-Cookie`` headers (a browser hides them from scripts)
nor the tokens (it must never get them), so this module watches both on the
server and reports what it saw, never a value:

* :class:`SetCookieRecorder` keeps each ``Set-Cookie`` header the app's host
  sent, keyed by the cookie's name and a digest of its value; ``/demo/report``
  matches the cookies the browser sends back against them, so the flags shown
  are those of the header that set the very cookie the browser holds.
* The receivers of django_bff's ``token_response_received`` and
  ``token_refreshed`` signals record a SHA-256 prefix and the length of every
  token the BFF received; the page hashes every same-length run of characters
  of every response it got and looks for those prefixes.
* Events (the BFF's, from its signals and Django's ``user_logged_out``; the
  page's, posted to ``/demo/events``) go to a log kept in this process, keyed
  by a random *visit* id. The log is not in the Django session, which logout
  flushes, nor in the browser's storage, which the page shows empty: only the
  visit id is in the session, and :class:`KeepVisit` puts it back into the
  fresh session that replaces a flushed one. So the log outlives the logout
  (the tokens and the login do not), and the page reads it oldest first.

In a demo only: one process, and memory that grows with visits.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.cookies import Morsel
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from django_bff.signals import token_refreshed, token_response_received

_lock = threading.Lock()
#: (cookie name, digest of its value) -> what the Set-Cookie header that set it said.
_set_cookies: dict[tuple[str, str], dict[str, Any]] = {}
#: visit id -> its events, oldest first.
_events: dict[str, list[dict[str, Any]]] = {}
#: visit id -> fingerprints of the tokens the BFF received during it.
_tokens: dict[str, dict[str, dict[str, Any]]] = {}
VISIT_KEY = "demo_visit"


def digest(value: str) -> str:
    """The demo's fingerprint of a value: the first 12 hex digits of its SHA-256 (as api.py's token_id)."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def record(visit: str | None, source: str, text: str) -> None:
    if visit:
        with _lock:
            _events.setdefault(visit, []).append({"at": time.time(), "source": source, "text": text})


def _fingerprints(visit: str | None, when: str, token: Any) -> list[str]:
    kinds = []
    for kind, value in (
        ("access token", token.access_token),
        ("refresh token", token.refresh_token),
        ("identity token", token.identity_token),
    ):
        if value and visit:
            with _lock:
                _tokens.setdefault(visit, {})[digest(value)] = {"kind": kind, "length": len(value), "when": when}
            kinds.append(f"{kind} {digest(value)}")
    return kinds


def _on_login(sender: Any, request: HttpRequest, token: Any, **kwargs: Any) -> None:
    visit = request.session.get(VISIT_KEY)
    kinds = _fingerprints(visit, "login", token)
    record(visit, "server", "token_response_received: the BFF got " + ", ".join(kinds))


def _on_refresh(sender: Any, request: HttpRequest | None, token: Any, **kwargs: Any) -> None:
    visit = request.session.get(VISIT_KEY) if request is not None else None
    kinds = _fingerprints(visit, "refresh", token)
    record(visit, "server", "token_refreshed: the BFF refreshed the access token, now " + ", ".join(kinds))


def _on_logout(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
    record(request.session.get(VISIT_KEY), "server", "user_logged_out: the BFF ended the session")


token_response_received.connect(_on_login, dispatch_uid="demo_witness_login")
token_refreshed.connect(_on_refresh, dispatch_uid="demo_witness_refresh")
user_logged_out.connect(_on_logout, dispatch_uid="demo_witness_logout")


def _described(morsel: Morsel[str], path: str) -> dict[str, Any]:
    value = f"{morsel.key}={morsel.coded_value}"
    header = morsel.OutputString().replace(value, f"{morsel.key}=<{len(morsel.value)} chars>")
    return {
        "set_cookie": header,
        "on_response_to": path,
        "http_only": bool(morsel["httponly"]),
        "secure": bool(morsel["secure"]),
        "same_site": morsel["samesite"] or None,
        "path": morsel["path"] or None,
    }


class SetCookieRecorder:
    """Middleware: remembers the ``Set-Cookie`` headers the app's host sends (name, flags, a digest of the value)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.get_host() == settings.APP_ORIGIN.split("//", 1)[1]:
            with _lock:
                for morsel in response.cookies.values():
                    _set_cookies[(morsel.key, digest(morsel.value))] = _described(morsel, request.path)
        return response


class ProviderSessionCookie:
    """Middleware: the identity provider's session cookie ``SameSite=None; Secure``.

    The BFF ends the provider's session with a form it posts there
    (``BFF["LOGOUT_METHOD"] = "post"``), and the provider (``localhost``) is
    another site than the app (``127.0.0.1``): a browser sends a ``Lax``
    cookie with a cross-site navigation only when it is a GET, so the provider
    would not find the session to end. (Chromium keeps ``Secure`` cookies on
    ``http://localhost``.) The app's own cookies keep Django's ``Lax``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        morsel = response.cookies.get(settings.SESSION_COOKIE_NAME)
        if morsel is not None and request.get_host() == settings.IDP_ORIGIN.split("//", 1)[1]:
            morsel["samesite"], morsel["secure"] = "None", True
        return response


class KeepVisit:
    """Middleware (after the session middleware): a session flushed by logout gets the visit id back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        visit = request.session.get(VISIT_KEY)
        response = self.get_response(request)
        if visit and request.session.get(VISIT_KEY) is None:
            request.session[VISIT_KEY] = visit
        return response


def report(request: HttpRequest) -> JsonResponse:
    """``/demo/report``: the browser's cookies as the server set them, token fingerprints, the visit's log."""
    if request.headers.get("X-CSRF") != "1":
        return JsonResponse({"error": "antiforgery_header_required"}, status=401)
    visit = request.session.get(VISIT_KEY)
    if not visit:
        visit = request.session[VISIT_KEY] = uuid.uuid4().hex  # Django's login() keeps it in the session
    cookies = []
    with _lock:
        for name, value in request.COOKIES.items():
            cookies.append({"name": name, **_set_cookies.get((name, digest(value)), {"set_cookie": None})})
        tokens = list(_tokens.get(visit, {}).items())
        events = list(_events.get(visit, []))
    response = JsonResponse(
        {
            "cookies": cookies,
            "tokens": [{"sha256_12": d, **about} for d, about in tokens],
            "events": events,
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
def events(request: HttpRequest) -> JsonResponse:
    """``POST /demo/events`` with ``{"text": ...}``: the page's own entry in its visit's log."""
    visit = request.session.get(VISIT_KEY)
    if request.method != "POST" or request.headers.get("X-CSRF") != "1" or not visit:
        return JsonResponse({"error": "bad_request"}, status=400)
    text = str(json.loads(request.body or b"{}").get("text", ""))[:300]
    record(visit, "page", text)
    return JsonResponse({"ok": True}, status=201)
