"""``/bff/user``: who is logged in, for the browser app, without a token.

In the data flow: an entry point; it reads the session and the identity token
kept by the login hand-off (:mod:`django_bff.handoff`), never the token manager.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views import View

from django_bff.antiforgery import check_antiforgery
from django_bff.clock import clock
from django_bff.conf import bff_settings
from django_bff.exceptions import AntiforgeryRequired
from django_bff.handoff import session_identity_token, unverified_claims
from django_bff.middleware import dont_slide, will_slide
from django_bff.responses import error_response, no_store, response_for
from django_bff.session_keys import (
    SESSION_SID_KEY,
    SESSION_SUB_KEY,
)
from django_bff.sessions import session_expires_at

__all__ = ["UserView"]


class UserView(View):
    """``/bff/user``: who is logged in, for the browser app.

    Needs the anti-forgery header (else 401
    ``{"error": "antiforgery_header_required"}``). Anonymous: 401
    ``{"error": "not_authenticated"}``, or ``200 null`` when
    ``BFF["ANONYMOUS_SESSION_RESPONSE"]`` is 200. Logged in: a JSON array of
    ``{"type": ..., "value": ...}``, the identity token's claims (filtered by
    ``BFF["USER_CLAIMS"]`` and ``BFF["USER_CLAIMS_EXCLUDED"]``; a list claim gives
    one entry per value), then ``bff:logout_url`` (``/bff/logout?sid=...``) and
    ``bff:session_expires_in`` (seconds). ``?slide=false`` answers without
    extending the session (with :class:`django_bff.middleware.SessionMiddleware`),
    so polling does not keep a session alive.

    Override :meth:`get_claims` in a subclass to shape the claims.
    """

    bff_endpoint = True
    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            check_antiforgery(request)
        except AntiforgeryRequired as e:
            return response_for(e)
        if request.GET.get("slide", "").lower() in ("false", "0", "no"):
            dont_slide(request)
        if not request.user.is_authenticated:
            if bff_settings.ANONYMOUS_SESSION_RESPONSE == 200:
                return no_store(JsonResponse(None, safe=False))
            return error_response(401, "not_authenticated")
        items: list[dict[str, Any]] = []
        for name, value in self.get_claims(request).items():
            for one in value if isinstance(value, list) else [value]:
                items.append({"type": name, "value": one})
        sid = str(request.session.get(SESSION_SID_KEY, ""))
        namespace = request.resolver_match.namespace if request.resolver_match else "django_bff"
        logout_url = reverse(f"{namespace}:logout" if namespace else "logout")
        items.append({"type": "bff:logout_url", "value": f"{logout_url}?sid={quote(sid, safe='')}"})
        items.append({"type": "bff:session_expires_in", "value": self.session_expires_in(request)})
        return no_store(JsonResponse(items, safe=False))

    def get_claims(self, request: HttpRequest) -> dict[str, Any]:
        """The claims to show: the identity token's, filtered by the settings."""
        # Verified at login; read again here, from our own encrypted copy.
        claims = unverified_claims(session_identity_token(request.session))
        if not claims and isinstance(request.session.get(SESSION_SUB_KEY), str):
            claims = {"sub": request.session[SESSION_SUB_KEY]}
        wanted = bff_settings.USER_CLAIMS
        excluded = set(bff_settings.USER_CLAIMS_EXCLUDED or ())
        return {
            name: value for name, value in claims.items() if (wanted is None or name in wanted) and name not in excluded
        }

    @staticmethod
    def session_expires_in(request: HttpRequest) -> int:
        """Seconds until the session expires, counting the save this response may make."""
        if will_slide(request):
            return int(request.session.get_expiry_age())
        return max(0, int(session_expires_at(request.session) - clock.time()))
