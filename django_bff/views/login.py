"""``/bff/login`` and the OIDC callback: the start of a login, and its end.

In the data flow: an entry point. :class:`LoginView` checks ``returnUrl`` and
``prompt``, hands over to mozilla-django-oidc and keeps the return URL with the
login's ``state``; :class:`OIDCCallbackView` receives the provider's answer,
whose code :mod:`django_bff.auth` exchanges and whose tokens
:mod:`django_bff.handoff` delivers to the session and the store. A login that
fails is logged once, with its reason, and the browser goes back to the return
URL with an ``error`` the browser app reads (:data:`~django_bff.views.login.LOGIN_ERRORS`).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.contrib import auth
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, QueryDict
from django.utils.http import url_has_allowed_host_and_scheme
from mozilla_django_oidc.views import (  # type: ignore[import-untyped]  # ships no types
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from django_bff.conf import bff_settings
from django_bff.dpop import jwk_thumbprint
from django_bff.faults import is_storage_error
from django_bff.handoff import CALLBACK_ATTR, LOGIN_REFUSAL_ATTR, keep_login_key, login_key
from django_bff.middleware import dont_slide
from django_bff.responses import error_response
from django_bff.session_keys import (
    OIDC_ID_TOKEN_EXPIRATION_KEY,
    OIDC_LOGIN_NEXT_KEY,
    OIDC_STATE_RETURN_URL_FIELD,
    OIDC_STATES_KEY,
)
from django_bff.sessions import cycle_session_key

__all__ = ["LoginView", "OIDCCallbackView", "safe_return_url", "LOGIN_ERRORS"]

logger = logging.getLogger("django_bff.views")
security_logger = logging.getLogger("django.security.django_bff")

#: The ``error`` a failed login adds to the return URL. The provider's own answer
#: when it is one a browser app can act on (OpenID Connect Core 3.1.2.6, RFC 6749
#: 4.1.2.1); ``temporarily_unavailable`` also when the provider or the storage could
#: not be reached (try again later); ``login_failed`` for everything else.
LOGIN_ERRORS = (
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
    "access_denied",
    "temporarily_unavailable",
    "login_failed",
)
_LOGIN_FAILED = "login_failed"
_UNAVAILABLE = "temporarily_unavailable"


_PROMPTS = frozenset({"none", "login", "consent", "select_account"})
#: Printable ASCII only: control characters, whitespace and Unicode look-alikes are refused.
_PRINTABLE = re.compile(r"^[\x21-\x7e]*$")


def safe_return_url(value: str | None, request: HttpRequest) -> str | None:
    """``value`` when it is a safe place to send the browser after login, else None.

    Safe: a path on this site (``/...``, never ``//...`` or ``/\\...``), or an
    absolute ``https``/``http`` URL whose origin is in
    ``BFF["ALLOWED_RETURN_ORIGINS"]``. Empty means ``/``.
    """
    if value is None or value == "":
        return "/"
    if not _PRINTABLE.match(value) or "\\" in value or "%5c" in value.lower():
        return None
    parts = urlsplit(value)
    if not parts.scheme and not parts.netloc:
        local = value.startswith("/") and not value.startswith("//") and not parts.path.startswith("//")
        if local and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
            return value
        return None
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    allowed = {str(o).rstrip("/").lower() for o in bff_settings.ALLOWED_RETURN_ORIGINS}
    if parts.scheme in ("https", "http") and not parts.username and not parts.password and origin in allowed:
        return value
    return None


class LoginView(OIDCAuthenticationRequestView):  # type: ignore[misc]  # an untyped base (Any)
    """``/bff/login``: validates ``returnUrl`` and ``prompt``, then mozilla-django-oidc's login request."""

    bff_endpoint = True
    #: DPoP: the key this login binds its tokens to (``dpop_jkt``), made with the request's parameters.
    dpop_key: str | None = None

    def get(self, request: HttpRequest) -> HttpResponse:
        return_url = safe_return_url(request.GET.get("returnUrl"), request)
        if return_url is None:
            return error_response(400, "invalid_return_url")
        prompt = request.GET.get("prompt")
        if prompt is not None and prompt not in _PROMPTS:
            return error_response(400, "invalid_prompt")
        query = QueryDict(mutable=True)
        query[self.get_settings("OIDC_REDIRECT_FIELD_NAME", "next")] = return_url
        if prompt:
            query["prompt"] = prompt
        request.GET = query  # type: ignore[assignment]  # Django types request.GET as immutable
        response: HttpResponse = super().get(request)
        # mozilla-django-oidc checks "next" against the allowed hosts only; an allowed
        # absolute URL of another origin is what we validated, so keep it as is.
        request.session[OIDC_LOGIN_NEXT_KEY] = return_url
        # And with the login's state: the callback sends the browser back there, failed or
        # not, also when several logins run at once (oidc_login_next is one for all).
        state = parse_qs(urlsplit(response["Location"]).query).get("state", [""])[0]
        states = request.session.get(OIDC_STATES_KEY)
        if isinstance(states, dict) and isinstance(states.get(state), dict):
            states[state][OIDC_STATE_RETURN_URL_FIELD] = return_url
            request.session.modified = True
        if self.dpop_key is not None:
            keep_login_key(request, response["Location"], self.dpop_key)
        return response

    def get_extra_params(self, request: HttpRequest) -> dict[str, Any]:
        params: dict[str, Any] = dict(super().get_extra_params(request))
        if request.GET.get("prompt"):
            params["prompt"] = request.GET["prompt"]
        self.dpop_key = login_key()
        if self.dpop_key is not None:
            params["dpop_jkt"] = jwk_thumbprint(self.dpop_key)  # RFC 9449 section 10: the code is bound to it
        return params


def _loggable(error: str) -> str:
    """The provider's ``error`` code as it may be logged: a short code, else a placeholder."""
    if len(error) <= 64 and error.isascii() and error.replace("_", "").isalnum():
        return error
    return "(not an error code)"


def _with_error(url: str, code: str) -> str:
    """``url`` with ``error=code`` in its query (an ``error`` it had is replaced), before any fragment."""
    base, hash_, fragment = url.partition("#")
    path, _, query = base.partition("?")
    params = [p for p in query.split("&") if p and p.split("=", 1)[0] != "error"]
    params.append(f"error={code}")
    return f"{path}?{'&'.join(params)}{hash_}{fragment}"


class OIDCCallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]  # an untyped base (Any)
    """mozilla-django-oidc's callback (``/oidc/callback/``), safe for a BFF. Mount it with::

        OIDC_CALLBACK_CLASS = "django_bff.views.OIDCCallbackView"

    Differences (``django_bff.W018`` warns when another class is mounted):

    * An error answer (``?error=access_denied``) ends the session only when its
      ``state`` is one of a login this browser started. mozilla-django-oidc logs
      the user out on any error answer, so any page could log users out with a
      link to ``/oidc/callback/?error=x`` (logout CSRF). Such a request is
      refused with the session untouched.
    * Every completed login goes through Django's ``login()``, which cycles the
      session key and the CSRF token, also when the same user logs in again
      (mozilla-django-oidc skips it then, keeping the key the session had).
    * The browser goes back to the ``returnUrl`` that ``/bff/login`` validated
      for this login (kept with its ``state``), also when the login fails: then
      with ``?error=<code>`` (:data:`~django_bff.views.login.LOGIN_ERRORS`), to ``LOGIN_REDIRECT_URL_FAILURE``
      when no login of this session matches. Every failure is logged once, as a
      WARNING with its reason (never a code, token or ``state``): on
      ``django.security.django_bff`` for a ``state`` that matches no login or a
      refused answer, on ``django_bff.views`` for the provider's error answers,
      users refused and storage outages.
    """

    bff_endpoint = True
    _return_url: str | None = None

    def get(self, request: HttpRequest) -> HttpResponseBase:
        setattr(request, CALLBACK_ATTR, True)
        try:
            return self._callback(request)
        except Exception as e:
            if not is_storage_error(e):
                raise
            # Nothing more can be written: leave the session as the storage has it.
            request.session.modified = False
            dont_slide(request)
            return self._failed(f"the session or user storage is unavailable ({type(e).__name__})", _UNAVAILABLE)

    def _callback(self, request: HttpRequest) -> HttpResponseBase:
        state = request.GET.get("state") or ""
        states = request.session.get(OIDC_STATES_KEY)
        login = states.get(state) if state and isinstance(states, dict) else None
        error = request.GET.get("error")
        if not (isinstance(states, dict) and isinstance(login, dict)):
            if not state:
                reason = "the answer has no state"
            elif not states:
                # What a session cookie overwritten by another application's looks like.
                reason = "this session started no login (its cookie lost or replaced? see django_bff.W019)"
            else:
                reason = "its state matches no login of this session"
            if error:
                reason = f"an error answer ({_loggable(error)}) for no login of this browser's: {reason}"
            return self._failed(f"{reason}; session left as it is", _LOGIN_FAILED, security=True)
        return_url = login.get(OIDC_STATE_RETURN_URL_FIELD)
        self._return_url = safe_return_url(return_url, request) if isinstance(return_url, str) else None
        if error:
            # One use per state, and no session goes on after a login it started failed
            # (what mozilla-django-oidc does for an error answer).
            del states[state]
            request.session.modified = True
            if request.user.is_authenticated:
                auth.logout(request)
            code = error if error in LOGIN_ERRORS and error != _LOGIN_FAILED else _LOGIN_FAILED
            return self._failed(f"the provider answered {_loggable(error)}", code)
        if not request.GET.get("code"):
            return self._failed("the answer has neither a code nor an error", _LOGIN_FAILED, security=True)
        response: HttpResponseBase = super().get(request)
        return response

    def _failed(self, reason: str, code: str, *, security: bool = False) -> HttpResponseBase:
        (security_logger if security else logger).warning("OIDC login failed (error=%s): %s", code, reason)
        return HttpResponseRedirect(_with_error(self._return_url or self.failure_url, code))

    @property
    def success_url(self) -> str:
        url: str = self._return_url or super().success_url
        return url

    def login_failure(self) -> HttpResponseBase:
        refusal = getattr(self.request, LOGIN_REFUSAL_ATTR, None)
        user = getattr(self, "user", None)
        if isinstance(refusal, tuple):
            reason, transient = refusal
            return self._failed(
                f"refused: {reason}", _UNAVAILABLE if transient else _LOGIN_FAILED, security=not transient
            )
        if user is not None:
            return self._failed("the user is inactive", _LOGIN_FAILED)
        return self._failed("no authentication backend returned a user", _LOGIN_FAILED)

    def login_success(self) -> HttpResponseBase:
        current = getattr(self.request, "user", None)
        if current is not None and current.is_authenticated and current.pk == self.user.pk:
            # Django's login() cycles the key of an anonymous session and flushes another
            # user's, but keeps the key of the same user's: a new login gets a new key.
            cycle_session_key(self.request)
        auth.login(self.request, self.user)
        expiration = self.get_settings("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", 60 * 15)
        # mozilla-django-oidc's SessionRefresh middleware compares this with time.time(): not our clock.
        self.request.session[OIDC_ID_TOKEN_EXPIRATION_KEY] = time.time() + expiration
        return HttpResponseRedirect(self.success_url)
