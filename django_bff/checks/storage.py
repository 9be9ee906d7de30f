"""The check of where tokens are kept: ``BFF["USER_TOKEN_STORE"]`` made, and its own checks.

In the data flow: a concern of :mod:`django_bff.checks`. The store is made
here the way the runtime makes it (:func:`django_bff.conf.load_backend`), but
apart from the runtime's copy, which it neither reads nor resets: a check has
no side effects. What the store finds wrong with its configuration (its
:meth:`~django_bff.stores.UserTokenStore.check`, e.g. ``django_bff.E014``) is
reported with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error

from django_bff.checks.messages import bff_dict

__all__ = ["check_token_storage", "made_store"]


def made_store() -> object:
    """A token store made from the settings, or the error that making one raised."""
    from django_bff.conf import load_backend
    from django_bff.exceptions import InvalidTokenStore
    from django_bff.stores import UserTokenStore

    try:
        return load_backend("USER_TOKEN_STORE", UserTokenStore, InvalidTokenStore)
    except InvalidTokenStore as e:
        return e


def check_token_storage(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """``BFF["USER_TOKEN_STORE"]`` can be made, and the store is content with its configuration."""
    from django_bff.stores import UserTokenStore

    if bff_dict() is None:
        return []
    store = made_store()
    if not isinstance(store, UserTokenStore):
        return [Error('BFF["USER_TOKEN_STORE"] is not usable.', hint=str(store)[:300], id="django_bff.E004")]
    return list(store.check())
