"""The BFF's own endpoints: ``/bff/login`` (more follow: logout, user, back-channel logout).

``/bff/login?returnUrl=/orders&prompt=none`` starts the OpenID Connect login
(authorization code with PKCE, state and nonce, through mozilla-django-oidc)
and, once the user is back, sends the browser to ``returnUrl``. ``returnUrl``
must be a local path, or an absolute URL on an origin of
``BFF["ALLOWED_RETURN_ORIGINS"]``; anything else answers 400
``{"error": "invalid_return_url"}``, so the login can never be used to send a
user to another site (an open redirect). ``prompt`` (``none``, ``login``,
``consent``, ``select_account``) passes through; ``prompt=none`` is the silent
login.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, QueryDict
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from mozilla_django_oidc.views import OIDCAuthenticationRequestView  # type: ignore[import-untyped]

from django_bff import crypto
from django_bff.backchannel import get_endpoint
from django_bff.clients import get_client
from django_bff.conf import bff_settings
from django_bff.exceptions import BFFError
from django_bff.receivers import SESSION_ID_TOKEN_KEY, SESSION_SID_KEY
from django_bff.responses import error_response
from django_bff.token_manager import revoke_refresh_token

__all__ = ["LoginView", "LogoutView", "safe_return_url"]

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


class LoginView(OIDCAuthenticationRequestView):  # type: ignore[misc]
    """``/bff/login``: validates ``returnUrl`` and ``prompt``, then mozilla-django-oidc's login request."""

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
        request.GET = query  # type: ignore[assignment]
        response: HttpResponse = super().get(request)
        # mozilla-django-oidc checks "next" against the allowed hosts only; an allowed
        # absolute URL of another origin is what we validated, so keep it as is.
        request.session["oidc_login_next"] = return_url
        return response

    def get_extra_params(self, request: HttpRequest) -> dict[str, Any]:
        params: dict[str, Any] = dict(super().get_extra_params(request))
        if request.GET.get("prompt"):
            params["prompt"] = request.GET["prompt"]
        return params


class LogoutView(View):
    """``/bff/logout?sid=...&returnUrl=...``: end the session here and at the provider.

    A logged-in user must present the session's ``sid`` (given by ``/bff/user``
    as ``bff:logout_url``), so a third-party page cannot log users out: a wrong
    or missing one answers 400 ``{"error": "invalid_sid"}``. Then the refresh
    token is revoked (RFC 7009, best effort), the tokens are cleared, the Django
    session is flushed, and the browser goes to the provider's end-session
    endpoint with ``id_token_hint`` and ``post_logout_redirect_uri`` (the
    absolute ``returnUrl``), or straight to ``returnUrl`` when the provider has
    none. An anonymous user goes straight to ``returnUrl``.
    """

    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponseBase:
        return_url = safe_return_url(request.GET.get("returnUrl"), request)
        if return_url is None:
            return error_response(400, "invalid_return_url")
        if not request.user.is_authenticated:
            return HttpResponseRedirect(return_url)
        expected = request.session.get(SESSION_SID_KEY)
        sid = request.GET.get("sid", "")
        if not isinstance(expected, str) or not constant_time_compare(sid, expected):
            security_logger.warning("logout refused: the sid does not match the session's")
            return error_response(400, "invalid_sid")
        revoke_refresh_token(request)
        id_token = _session_id_token(request)
        try:
            end_session = get_endpoint("end_session_endpoint")
        except BFFError:
            end_session = None
        logout(request)  # clears the tokens (receivers) and flushes the session
        if not end_session:
            return HttpResponseRedirect(return_url)
        params = {"post_logout_redirect_uri": request.build_absolute_uri(return_url)}
        if id_token:
            params["id_token_hint"] = id_token
        else:
            params["client_id"] = get_client().client_id
        separator = "&" if urlsplit(end_session).query else "?"
        return HttpResponseRedirect(f"{end_session}{separator}{urlencode(params)}")


def _session_id_token(request: HttpRequest) -> str | None:
    value = request.session.get(SESSION_ID_TOKEN_KEY)
    if not isinstance(value, str):
        return None
    try:
        return crypto.decrypt(value).decode()
    except crypto.InvalidToken:
        return None
