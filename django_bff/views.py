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

import re
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.http import url_has_allowed_host_and_scheme
from mozilla_django_oidc.views import OIDCAuthenticationRequestView  # type: ignore[import-untyped]

from django_bff.conf import bff_settings
from django_bff.responses import error_response

__all__ = ["LoginView", "safe_return_url"]

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
