"""``/bff/login`` and the OIDC callback: the start of a login, and its end.

In the data flow: an entry point. :class:`LoginView` checks ``returnUrl`` and
``prompt`` and hands over to mozilla-django-oidc; :class:`OIDCCallbackView`
receives the provider's answer, whose code :mod:`django_bff.auth` exchanges and
whose tokens :mod:`django_bff.handoff` delivers to the session and the store.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import urlsplit

from django.contrib import auth
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, QueryDict
from django.utils.http import url_has_allowed_host_and_scheme
from mozilla_django_oidc.views import (  # type: ignore[import-untyped]  # ships no types
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from django_bff.conf import bff_settings
from django_bff.handoff import CALLBACK_ATTR
from django_bff.responses import error_response
from django_bff.session_keys import (
    OIDC_ID_TOKEN_EXPIRATION_KEY,
    OIDC_LOGIN_NEXT_KEY,
    OIDC_STATES_KEY,
)
from django_bff.sessions import cycle_session_key

__all__ = ["LoginView", "OIDCCallbackView", "safe_return_url"]

security_logger = logging.getLogger("django.security.django_bff")


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
        return response

    def get_extra_params(self, request: HttpRequest) -> dict[str, Any]:
        params: dict[str, Any] = dict(super().get_extra_params(request))
        if request.GET.get("prompt"):
            params["prompt"] = request.GET["prompt"]
        return params


class OIDCCallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]  # an untyped base (Any)
    """mozilla-django-oidc's callback (``/oidc/callback/``), safe for a BFF. Mount it with::

        OIDC_CALLBACK_CLASS = "django_bff.views.OIDCCallbackView"

    Two differences (``django_bff.W018`` warns when another class is mounted):

    * An error answer (``?error=access_denied``) ends the session only when its
      ``state`` is one of a login this browser started. mozilla-django-oidc logs
      the user out on any error answer, so any page could log users out with a
      link to ``/oidc/callback/?error=x`` (logout CSRF). Such a request is logged
      to ``django.security.django_bff`` and sent to ``LOGIN_REDIRECT_URL_FAILURE``
      with the session untouched.
    * Every completed login goes through Django's ``login()``, which cycles the
      session key and the CSRF token, also when the same user logs in again
      (mozilla-django-oidc skips it then, keeping the key the session had).
    """

    bff_endpoint = True

    def get(self, request: HttpRequest) -> HttpResponseBase:
        if request.GET.get("error"):
            state = request.GET.get("state")
            states = request.session.get(OIDC_STATES_KEY)
            if not (isinstance(state, str) and isinstance(states, dict) and state in states):
                security_logger.warning(
                    "OIDC callback with an error answer for no login of this browser's: session left as it is"
                )
                refused: HttpResponseBase = self.login_failure()
                return refused
        setattr(request, CALLBACK_ATTR, True)
        response: HttpResponseBase = super().get(request)
        return response

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
