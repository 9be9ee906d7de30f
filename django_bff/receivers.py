"""Signal receivers connected in ``AppConfig.ready()``.

* ``user_logged_in``: a login's token response (kept on the request by
  :class:`~django_bff.auth.BFFAuthenticationBackend`) goes to the store, now that
  ``login()`` has cycled the session key, and ``token_response_received`` is sent.
  The session is recorded in the session index (:mod:`django_bff.sessions`).
* ``user_logged_out``: the session's tokens are cleared and its index entry
  dropped before Django flushes it.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.crypto import get_random_string

from django_bff import crypto
from django_bff.conf import bff_settings
from django_bff.sessions import SESSION_SID_KEY, forget_session, record_session
from django_bff.signals import token_response_received
from django_bff.stores import get_token_store

logger = logging.getLogger(__name__)

__all__ = ["deliver_pending_tokens", "SESSION_SID_KEY", "SESSION_ID_TOKEN_KEY"]

#: The identity token, encrypted, for the end-session request's id_token_hint.
SESSION_ID_TOKEN_KEY = "_bff_id_token"


def _unverified_claims(identity_token: str | None) -> dict[str, Any]:
    """Claims of an identity token already verified at login (None-safe)."""
    if not identity_token:
        return {}
    try:
        claims = jwt.decode(identity_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def deliver_pending_tokens(request: HttpRequest, user: Any) -> None:
    from django_bff.auth import PENDING_TOKEN_ATTR

    pending = getattr(request, PENDING_TOKEN_ATTR, None)
    if pending is None:
        return
    delattr(request, PENDING_TOKEN_ATTR)
    response, token = pending
    # The session id the logout endpoint asks for: the provider's "sid" when the identity
    # token has one (back-channel logout names it), else one of our own.
    claims = _unverified_claims(token.identity_token)
    sub = str(claims.get("sub") or getattr(user, "get_username", lambda: "")())
    record_session(request, sub, str(claims.get("sid") or get_random_string(32)))
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


@receiver(user_logged_in, dispatch_uid="django_bff.store_login_tokens")
def _on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None:
        deliver_pending_tokens(request, user)


@receiver(user_logged_out, dispatch_uid="django_bff.clear_tokens_on_logout")
def _on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    try:
        get_token_store().clear_token(request)
    except Exception:
        logger.exception("could not clear the session's tokens at logout")
    try:
        forget_session(request)
    except Exception:
        logger.exception("could not drop the session from the session index")
