"""Logging in against the real test identity provider, and the session that login leaves."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

from django_bff.stores import get_token_store
from django_bff.testing import UserTokenStoreContract

__all__ = ["CALLBACK", "point_at", "browser_login", "session_request", "expire"]

#: The redirect URI the test provider knows for the BFF.
CALLBACK = "http://127.0.0.1/oidc/callback/"

_PAST = datetime.now(timezone.utc) - timedelta(minutes=10)


def point_at(settings: Any, provider: Any) -> None:
    """Point mozilla-django-oidc and ``BFF["AUTHORITY"]`` at ``provider``."""
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = provider.authorization_endpoint
    settings.OIDC_OP_TOKEN_ENDPOINT = provider.token_endpoint
    settings.OIDC_OP_JWKS_ENDPOINT = provider.jwks_uri
    settings.OIDC_RP_SCOPES = "openid email api"
    settings.BFF = {**settings.BFF, "AUTHORITY": provider.issuer}


def browser_login(client: Any, login: str = "alice") -> Any:
    """The real authorization-code + PKCE flow: our login view, the provider's form, our callback."""
    from tests.support.idp import complete_login

    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302, start
    final = complete_login(start["Location"], CALLBACK, login=login)
    back = client.get(urlsplit(final).path + "?" + urlsplit(final).query)
    assert back.status_code == 302 and back["Location"] == "/", (back.status_code, back.get("Location"))
    return client


def session_request(client: Any) -> Any:
    """A new request in ``client``'s logged-in session, for calling the store or token manager."""
    key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    return UserTokenStoreContract().new_request(key, user)


def expire(client: Any) -> Any:
    """Make the stored access token look expired (the refresh token stays real); returns the old token."""
    request = session_request(client)
    store = get_token_store()
    token = store.get_token(request)
    store.store_token(request, dataclasses.replace(token, expires_at=_PAST))
    request.session.save()
    return token
