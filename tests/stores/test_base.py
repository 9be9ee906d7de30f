"""The store contract's base class, and the store the settings name (get_token_store)."""

from __future__ import annotations

from typing import Any

import pytest

from django_bff.exceptions import InvalidTokenStore
from django_bff.stores import (
    CacheTokenStore,
    UserTokenStore,
    get_token_store,
)
from django_bff.testing import sample_token
from django_bff.tokens import UserTokenRequestParameters


def test_get_token_store_uses_the_setting(settings: Any) -> None:
    settings.BFF = {
        **settings.BFF,
        "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore", "OPTIONS": {"KEY_PREFIX": "x:"}},
    }
    store = get_token_store()
    assert isinstance(store, CacheTokenStore) and store.key_prefix == "x:"
    assert get_token_store() is store


@pytest.mark.parametrize(
    "config, message",
    [
        ("django_bff.stores.CacheTokenStore", "must be a dict"),
        ({"BACKEND": "django_bff.nope.Store"}, "Could not import"),
        ({"BACKEND": "django_bff.tokens.UserToken"}, "not a subclass"),
        (
            {"BACKEND": "django_bff.stores.SessionTokenStore", "OPTIONS": {"COLOR": 1}},
            r'\["OPTIONS"\] rejected: SessionTokenStore got unknown OPTIONS: COLOR',
        ),
    ],
)
def test_get_token_store_errors_name_the_setting(settings: Any, config: Any, message: str) -> None:
    settings.BFF = {**settings.BFF, "USER_TOKEN_STORE": config}
    with pytest.raises(InvalidTokenStore, match=message):
        get_token_store()


def test_base_class_methods_must_be_implemented() -> None:
    store = UserTokenStore()
    request: Any = object()
    for call in (
        lambda: store.get_token(request),
        lambda: store.store_token(request, sample_token()),
        lambda: store.clear_token(request),
    ):
        with pytest.raises(NotImplementedError, match="subclasses of UserTokenStore must provide"):
            call()
    assert store.check() == []


def test_parameters_select_resource_key() -> None:
    assert UserTokenRequestParameters(resource="urn:x").resource == "urn:x"
