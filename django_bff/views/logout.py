"""``/bff/logout``: the refresh token revoked, the tokens cleared, the session ended, the provider told.

In the data flow: an entry point; it asks the token manager to revoke
(:func:`django_bff.token_manager.revoke_refresh_token`), and Django's ``logout()``
lets the receivers clear the store and the session index. The provider is told
by a form the browser posts to its end-session endpoint (``BFF["LOGOUT_METHOD"]``
``"post"``), so that the identity token sent as ``id_token_hint`` is in no URL,
or by a redirect (``"get"``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from urllib.parse import urlencode, urlsplit

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils.crypto import constant_time_compare
from django.utils.html import escape
from django.views import View

from django_bff.backchannel import get_endpoint, note_missing_endpoint
from django_bff.clients import get_client
from django_bff.conf import bff_settings
from django_bff.exceptions import BFFError
from django_bff.handoff import session_identity_token
from django_bff.responses import error_response, no_store
from django_bff.session_keys import SESSION_SID_KEY
from django_bff.token_manager import revoke_refresh_token
from django_bff.views.login import safe_return_url

__all__ = ["LogoutView"]

security_logger = logging.getLogger("django.security.django_bff")

#: The one script of the logout page: it submits the form. Allowed by its hash in the page's own
#: Content-Security-Policy, so no nonce and no 'unsafe-inline'; without it the button still works.
_SUBMIT = "document.forms[0].submit();"
_SUBMIT_HASH = base64.b64encode(hashlib.sha256(_SUBMIT.encode()).digest()).decode()
_PAGE_CSP = f"default-src 'none'; script-src 'sha256-{_SUBMIT_HASH}'; base-uri 'none'; frame-ancestors 'none'"


def _end_session_form(end_session: str, params: dict[str, str]) -> HttpResponse:
    """A page whose form posts ``params`` to ``end_session``, submitted by its script or by its button.

    Answered ``Cache-Control: no-store`` (it holds the identity token, which must
    not stay in the browser's cache) with a Content-Security-Policy of its own
    that allows its one script and nothing else. A policy the project sets in
    its middleware replaces or adds to it; where that blocks the script, the
    button is there.
    """
    fields = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in params.items()
    )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signing out</title></head><body>'
        f'<form method="post" action="{escape(end_session)}">{fields}'
        "<p>Signing you out at the identity provider.</p>"
        '<button type="submit">Continue</button></form>'
        f"<script>{_SUBMIT}</script></body></html>"
    )
    response = no_store(HttpResponse(page, content_type="text/html; charset=utf-8"))
    response["Content-Security-Policy"] = _PAGE_CSP
    return response


class LogoutView(View):
    """``/bff/logout?sid=...&returnUrl=...``: end the session here and at the provider.

    A logged-in user must present the session's ``sid`` (given by ``/bff/user``
    as ``bff:logout_url``), so a third-party page cannot log users out: a wrong
    or missing one answers 400 ``{"error": "invalid_sid"}``. Then the refresh
    token is revoked (RFC 7009, best effort; ``BFF["REVOKE_REFRESH_TOKEN_ON_LOGOUT"]``),
    the tokens are cleared, the Django
    session is flushed, and the browser goes to the provider's end-session
    endpoint with ``id_token_hint`` and ``post_logout_redirect_uri`` (the
    absolute ``returnUrl``), or straight to ``returnUrl`` when the provider has
    none. An anonymous user goes straight to ``returnUrl``. With
    ``BFF["LOGOUT_METHOD"]`` ``"post"`` (the default) the answer is a page
    whose form posts those parameters; with
    ``"get"``, a redirect with them in the query string.
    """

    bff_endpoint = True
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
        if bff_settings.REVOKE_REFRESH_TOKEN_ON_LOGOUT:
            revoke_refresh_token(request)
        id_token = session_identity_token(request.session)
        try:
            end_session = get_endpoint("end_session_endpoint")
        except BFFError:
            end_session = None
        else:
            if not end_session:
                note_missing_endpoint(
                    "end_session_endpoint", "logout does not end the provider's session (django_bff.W021)"
                )
        logout(request)  # clears the tokens (receivers) and flushes the session
        if not end_session:
            return HttpResponseRedirect(return_url)
        params = {"post_logout_redirect_uri": request.build_absolute_uri(return_url)}
        if id_token:
            params["id_token_hint"] = id_token
        else:
            params["client_id"] = get_client().client_id
        if bff_settings.LOGOUT_METHOD == "post":
            return _end_session_form(end_session, params)
        separator = "&" if urlsplit(end_session).query else "?"
        return HttpResponseRedirect(f"{end_session}{separator}{urlencode(params)}")
