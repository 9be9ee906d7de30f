"""The demo API: accepts only valid access tokens of the demo identity provider.

It stands for the remote APIs a BFF calls. It never sees the browser: the BFF
calls it with a bearer token. It validates the token with django-oauth-toolkit
(known, not expired, not revoked, with the ``api`` scope) and answers 401 with
``WWW-Authenticate`` otherwise, as an API should.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import get_oauthlib_core


def requires_token(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @csrf_exempt
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=["api"])
        if not valid:
            response = JsonResponse({"error": "invalid_token"}, status=401)
            response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        return view(request, oauth_request.access_token, *args, **kwargs)

    return wrapper


def token_id(token: Any) -> str:
    """A digest of an access token: it tells tokens apart without showing one."""
    return hashlib.sha256(token.token.encode()).hexdigest()[:12]


def _describe(token: Any) -> dict[str, Any]:
    return {
        "token_id": token_id(token),
        "token_expires_at": token.expires.isoformat(),
        "token_expires_in": max(0, int((token.expires - timezone.now()).total_seconds())),
        "scope": token.scope,
        "client": token.application.client_id,
    }


@requires_token
def user_data(request: HttpRequest, token: Any) -> JsonResponse:
    """For a user's access token: who the user is."""
    if token.user is None:
        return JsonResponse({"error": "a user token is required"}, status=403)
    return JsonResponse(
        {"message": f"Hello {token.user.get_username()}!", "user": token.user.get_username(), **_describe(token)}
    )


@requires_token
def app_data(request: HttpRequest, token: Any) -> JsonResponse:
    """For the app's client-credentials token: no user involved."""
    return JsonResponse({"message": "Hello app!", "user": token.user and token.user.get_username(), **_describe(token)})
