"""Signal receivers connected in ``AppConfig.ready()``.

In the data flow: beside the endpoints, on Django's signals; it calls down into
the login hand-off, the session lifecycle, the stores and the worker's memory.

* ``user_logged_in``: the login hand-off (:mod:`django_bff.handoff`): a login's
  token response, kept on the request by
  :class:`~django_bff.auth.BFFAuthenticationBackend`, goes to the session and the
  store now that ``login()`` has cycled the session key
  (:func:`~django_bff.handoff.deliver_pending_tokens`, still importable from
  here).
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

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from django_bff.handoff import deliver_pending_tokens
from django_bff.session_keys import SESSION_ID_TOKEN_KEY, SESSION_SID_KEY
from django_bff.sessions import end_user_sessions, forget_session
from django_bff.stores import get_token_store
from django_bff.token_memory import forget_session_tokens

logger = logging.getLogger(__name__)

__all__ = ["deliver_pending_tokens", "SESSION_SID_KEY", "SESSION_ID_TOKEN_KEY"]


@receiver(user_logged_in, dispatch_uid="django_bff.store_login_tokens")
def _on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None:
        deliver_pending_tokens(request, user)


@receiver(user_logged_out, dispatch_uid="django_bff.clear_tokens_on_logout")
def _on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
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
