"""Signal receivers connected in ``AppConfig.ready()``.

* ``user_logged_in``: a login's token response (kept on the request by
  :class:`~django_bff.auth.BFFAuthenticationBackend`) goes to the store, now that
  ``login()`` has cycled the session key, and ``token_response_received`` is sent.
  The session is recorded in the session index (:mod:`django_bff.sessions`).
* ``user_logged_out``: the session's tokens are cleared and its index entry
  dropped before Django flushes it.
* the user model's ``pre_save``/``post_save``/``post_delete``: a user who is
  deactivated, deleted or whose password changes has every BFF session ended
  (:func:`~django_bff.sessions.end_user_sessions`, once the change is
  committed). Django itself would notice at the user's next request (the
  session auth hash); the proxy does not load the user on every call
  (:func:`~django_bff.sessions.session_login`), so this is what ends them.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.crypto import get_random_string

from django_bff import crypto
from django_bff.conf import bff_settings
from django_bff.sessions import SESSION_SID_KEY, end_user_sessions, forget_session, record_session
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


@receiver(user_logged_in, dispatch_uid="django_bff.store_login_tokens")
def _on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None:
        deliver_pending_tokens(request, user)


@receiver(user_logged_out, dispatch_uid="django_bff.clear_tokens_on_logout")
def _on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    from django_bff.token_manager import forget_session_tokens

    forget_session_tokens(request.session.session_key)
    try:
        get_token_store().clear_token(request)
    except Exception:
        logger.exception("could not clear the session's tokens at logout")
    try:
        forget_session(request)
    except Exception:
        logger.exception("could not drop the session from the session index")


# --- users who can no longer be logged in ------------------------------------------------------------

_END_ATTR = "_bff_end_sessions"


def _watched_fields(model: Any) -> list[str]:
    names = {f.name for f in model._meta.concrete_fields}
    return [name for name in ("password", "is_active") if name in names]


@receiver(pre_save, sender=get_user_model(), dispatch_uid="django_bff.user_changing")
def _user_changing(sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    fields = _watched_fields(sender)
    if raw or instance.pk is None or not fields:
        return
    if update_fields is not None and not set(fields) & set(update_fields):
        return  # e.g. update_last_login(): nothing that ends sessions
    before = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
    if before is None:
        return
    password_changed = "password" in before and before["password"] != instance.password
    deactivated = bool(before.get("is_active", False)) and not getattr(instance, "is_active", True)
    if password_changed or deactivated:
        setattr(instance, _END_ATTR, True)


def _end_after_commit(pk: Any) -> None:
    def end() -> None:
        try:
            ended = end_user_sessions(pk)
        except Exception:
            logger.exception("could not end the sessions of a user who can no longer log in")
            return
        if ended:
            logger.info("ended %d session(s) of a user who was deactivated, deleted or changed password", ended)

    transaction.on_commit(end, robust=True)


@receiver(post_save, sender=get_user_model(), dispatch_uid="django_bff.user_changed")
def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    if getattr(instance, _END_ATTR, False):
        delattr(instance, _END_ATTR)
        _end_after_commit(instance.pk)


@receiver(post_delete, sender=get_user_model(), dispatch_uid="django_bff.user_deleted")
def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _end_after_commit(instance.pk)
