"""``/bff/diagnostics``: the session's token metadata for a developer, never a token value.

In the data flow: an entry point, only under ``DEBUG`` or ``BFF["DIAGNOSTICS"]``;
it reads the store and the client-token cache.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View

from django_bff.clients import get_client
from django_bff.conf import bff_settings
from django_bff.responses import no_store
from django_bff.session_keys import SESSION_SID_KEY
from django_bff.views.user import UserView

__all__ = ["DiagnosticsView", "diagnostics_enabled"]


def diagnostics_enabled() -> bool:
    """Whether ``/bff/diagnostics`` answers: ``BFF["DIAGNOSTICS"]``, or ``DEBUG`` when it is None."""
    from django.conf import settings

    value = bff_settings.DIAGNOSTICS
    return bool(settings.DEBUG if value is None else value)


def _moment(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _describe(token: Any, refresh_before: float) -> dict[str, Any]:
    """What a token is, never what it holds: expiry, scope, resource, type, DPoP thumbprint."""
    from django_bff.dpop import jwk_thumbprint

    expires_in = token.expires_in()
    described: dict[str, Any] = {
        "token_type": token.access_token_type,
        "scope": token.scope,
        "expires_at": _moment(token.expires_at),
        "expires_in": None if expires_in is None else int(expires_in),
        "issued_at": _moment(getattr(token, "issued_at", None)),
        "refresh_window": token.refresh_window(refresh_before),
        "needs_refresh": token.needs_refresh(refresh_before),
        "dpop_jkt": None,
    }
    if getattr(token, "dpop_jwk", None):
        try:
            described["dpop_jkt"] = jwk_thumbprint(token.dpop_jwk)
        except (ValueError, KeyError, TypeError):
            described["dpop_jkt"] = "unreadable"
    if hasattr(token, "refresh_token"):
        described.update(
            resource=token.resource,
            client_id=token.client_id,
            has_refresh_token=bool(token.refresh_token),
            has_identity_token=bool(token.identity_token),
        )
    return described


class DiagnosticsView(View):
    """``/bff/diagnostics``: what the BFF holds for this session, for developers. Never a token value.

    Answers only under ``DEBUG``, or with ``BFF["DIAGNOSTICS"] = True``; a plain
    404 otherwise (``BFF["DIAGNOSTICS"] = False`` turns it off under ``DEBUG``
    too, and ``manage.py check --deploy`` reports it on without ``DEBUG``:
    ``django_bff.E040``). The JSON names, for the session's tokens (its own,
    then per resource and scope) and for the cached client-credentials token of
    every client: the token type, scope, resource, expiry, when it was
    requested, its refresh window, whether there is a refresh or identity
    token, and the DPoP key's thumbprint (``jkt``); and how long the session's
    refresh token stays in doubt, if it does. ``Cache-Control: no-store``.
    """

    bff_endpoint = True
    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        from django.core.cache import caches
        from django.http import Http404

        from django_bff.clients import client_names
        from django_bff.stores import get_token_store
        from django_bff.token_manager import (
            _client_cache_key,
            _decode_client_token,
            _in_doubt_for,
            _in_doubt_key,
        )

        if not diagnostics_enabled():
            raise Http404("diagnostics are off")
        before = bff_settings.refresh_before_expiration
        authenticated = bool(request.user.is_authenticated)
        data: dict[str, Any] = {
            "authenticated": authenticated,
            "sid": request.session.get(SESSION_SID_KEY) if authenticated else None,
            "session_expires_in": UserView.session_expires_in(request) if authenticated else None,
            "user_tokens": [],
            "refresh_token_in_doubt_for": None,
            "client_tokens": {},
        }
        if authenticated:
            store = get_token_store()
            lister = getattr(store, "stored_tokens", None)
            tokens = lister(request) if lister is not None else [t for t in [store.get_token(request)] if t]
            data["user_tokens"] = [_describe(token, before) for token in tokens]
            grant = next((t for t in tokens if t.refresh_token), None)
            if grant is not None:
                data["refresh_token_in_doubt_for"] = _in_doubt_for(_in_doubt_key(grant))
        cache = caches[bff_settings.CACHE]
        for name in client_names():
            client = get_client(name)
            cached = _decode_client_token(cache.get(_client_cache_key(name, client.scope, client.resource)))
            data["client_tokens"][name] = None if cached is None else _describe(cached, before)
        return no_store(JsonResponse(data))
