"""The login hand-off: a login's tokens, from the authentication backend to the session and the store.

In the data flow: in the login (``docs/endpoints.rst``): mozilla-django-oidc's
callback → :class:`~django_bff.auth.BFFAuthenticationBackend` exchanges the
code and hands the token response over (:func:`hand_over`, which keeps it on
the request: the session key is about to change) → Django's ``login()``
cycles the session key and sends ``user_logged_in`` →
:func:`deliver_pending_tokens` (connected by :mod:`django_bff.receivers`)
records the session's ``sid`` and ``sub`` and adds it to the session index
(:func:`django_bff.sessions.record_session`), keeps the identity token
encrypted in the session, gives the tokens to the store
(``BFF["SAVE_TOKENS"]``) and sends ``token_response_received``. Later, the
logout and ``/bff/user`` read the identity token back
(:func:`session_identity_token`).

With DPoP (``BFF["DPOP"]``) the login starts with a key: ``/bff/login``
makes it (:func:`login_key`), names its thumbprint in the authorization
request's ``dpop_jkt`` and keeps it encrypted in the session under the
login's ``state`` (:func:`keep_login_key`); the code exchange takes it back
(:func:`take_login_key`) and sends its proof with it, and the token made of
the answer carries it (``UserToken.dpop_jwk``) to the store, encrypted with
the tokens.

Both the backend and the receivers import this module, and it imports
neither of them: the hand-off is written once, with no import circle.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest
from django.middleware.csrf import rotate_token
from django.utils.crypto import get_random_string

from django_bff import crypto
from django_bff.conf import bff_settings
from django_bff.dpop import new_key
from django_bff.session_keys import OIDC_STATES_KEY, SESSION_DPOP_LOGIN_KEYS, SESSION_ID_TOKEN_KEY
from django_bff.sessions import cycle_session_key, record_session
from django_bff.signals import token_response_received
from django_bff.stores import get_token_store
from django_bff.tokens import UserToken

__all__ = [
    "PENDING_TOKEN_ATTR",
    "CALLBACK_ATTR",
    "LOGIN_REFUSAL_ATTR",
    "hand_over",
    "deliver_pending_tokens",
    "session_identity_token",
    "unverified_claims",
    "login_key",
    "keep_login_key",
    "take_login_key",
]

logger = logging.getLogger(__name__)

#: The request attribute that carries a login's token response until login() ran.
PENDING_TOKEN_ATTR = "_bff_pending_token_response"
#: Set on the request by :class:`~django_bff.views.OIDCCallbackView`: its login() hands the tokens over.
CALLBACK_ATTR = "_bff_oidc_callback"
#: Set on the request by the backend when it refuses a login under that callback: ``(reason, transient)``,
#: which the callback logs (once) and turns into the ``error`` the browser app reads.
LOGIN_REFUSAL_ATTR = "_bff_login_refusal"


def hand_over(request: HttpRequest, user: Any, response: dict[str, Any], token: UserToken) -> None:
    """Keep a login's token ``response`` (and the ``token`` made of it) for :func:`deliver_pending_tokens`.

    They wait on the request for Django's ``login()``, which cycles the session
    key. mozilla-django-oidc's own callback does not call ``login()`` when the
    same user logs in again (:class:`~django_bff.views.OIDCCallbackView` does):
    then no ``user_logged_in`` will come, so this does what ``login()`` would
    (a new session key and CSRF token) and delivers the tokens at once.
    """
    setattr(request, PENDING_TOKEN_ATTR, (response, token))
    current = getattr(request, "user", None)
    same_user = current is not None and current.is_authenticated and current.pk == user.pk
    if same_user and not getattr(request, CALLBACK_ATTR, False):
        cycle_session_key(request)
        rotate_token(request)
        deliver_pending_tokens(request, user)


def unverified_claims(identity_token: str | None) -> dict[str, Any]:
    """Claims of an identity token already verified at login (None-safe; ``{}`` when unreadable)."""
    if not identity_token:
        return {}
    try:
        claims = jwt.decode(identity_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def deliver_pending_tokens(request: HttpRequest, user: Any) -> None:
    """Hand a login's pending token response to the session, the store and ``token_response_received``."""
    pending = getattr(request, PENDING_TOKEN_ATTR, None)
    if pending is None:
        return
    delattr(request, PENDING_TOKEN_ATTR)
    response, token = pending
    # The session id the logout endpoint asks for: the provider's "sid" when the identity
    # token has one (back-channel logout names it), else one of our own.
    claims = unverified_claims(token.identity_token)
    sub = str(claims.get("sub") or getattr(user, "get_username", lambda: "")())
    record_session(request, sub, str(claims.get("sid") or get_random_string(32)), user=str(user.pk))
    if token.identity_token:
        request.session[SESSION_ID_TOKEN_KEY] = crypto.encrypt(token.identity_token.encode())
    if bff_settings.SAVE_TOKENS:
        store = get_token_store()
        store.clear_token(request)  # a new login replaces every earlier token
        store.store_token(request, token)
        logger.debug("login tokens stored")
    token_response_received.send(
        sender=type(user), request=request, user=user, token_response=dict(response), token=token
    )


def session_identity_token(session: SessionBase) -> str | None:
    """The identity token the login kept in ``session`` (None: none, or it cannot be decrypted)."""
    value = session.get(SESSION_ID_TOKEN_KEY)
    if not isinstance(value, str):
        return None
    try:
        return crypto.decrypt(value).decode()
    except crypto.InvalidToken:
        return None


# --- DPoP: the key a login binds its tokens to ---------------------------------------------------


def login_key() -> str | None:
    """A new DPoP key (a private JWK, JSON) for a login when ``BFF["DPOP"]`` is on, else None."""
    options = bff_settings.DPOP
    return new_key(options.algorithm) if options is not None else None


def keep_login_key(request: HttpRequest, authorization_url: str, key: str) -> None:
    """Keep ``key`` encrypted in the session for the login whose ``state`` ``authorization_url`` carries.

    One per login this browser has started and not finished (those mozilla-django-oidc still keeps).
    """
    state = parse_qs(urlsplit(authorization_url).query).get("state", [""])[0]
    started = request.session.get(OIDC_STATES_KEY)
    started = started if isinstance(started, dict) else {}
    kept = request.session.get(SESSION_DPOP_LOGIN_KEYS)
    keys = {s: v for s, v in kept.items() if s in started} if isinstance(kept, dict) else {}
    keys[state] = crypto.encrypt(key.encode())
    request.session[SESSION_DPOP_LOGIN_KEYS] = keys


def take_login_key(request: HttpRequest, state: str | None) -> str | None:
    """The key ``/bff/login`` made for the login of ``state``, taken out of the session (None: none)."""
    kept = request.session.get(SESSION_DPOP_LOGIN_KEYS)
    if not isinstance(kept, dict) or not state or state not in kept:
        return None
    value = kept.pop(state)
    request.session[SESSION_DPOP_LOGIN_KEYS] = kept
    try:
        return crypto.decrypt(value).decode()
    except (crypto.InvalidToken, TypeError):
        logger.warning("the DPoP key of a login could not be decrypted; a new one is made")
        return None
