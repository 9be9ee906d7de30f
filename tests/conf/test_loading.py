"""The one loader of dotted paths named in settings, and its one set of messages."""

from __future__ import annotations

import pytest

from django_bff.conf.loading import import_object, load_callable, load_class, make_backend
from django_bff.exceptions import BFFImproperlyConfigured, InvalidTokenStore
from django_bff.retrievers import AccessTokenRetriever, DefaultAccessTokenRetriever
from django_bff.stores import CacheTokenStore, UserTokenStore


def test_a_class_by_its_path_or_itself() -> None:
    path = "django_bff.retrievers.DefaultAccessTokenRetriever"
    assert load_class(path, AccessTokenRetriever, "R") is DefaultAccessTokenRetriever
    assert load_class(DefaultAccessTokenRetriever, AccessTokenRetriever, "R") is DefaultAccessTokenRetriever
    assert import_object("django_bff.retrievers.AccessTokenRetriever", "R") is AccessTokenRetriever


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no.such.Thing", r"Could not import R 'no.such.Thing'"),
        ("django_bff.tokens.UserToken", r"R: 'django_bff.tokens.UserToken' is not a AccessTokenRetriever \(not a"),
        (object, "not a subclass of django_bff.retrievers.AccessTokenRetriever"),
    ],
)
def test_one_message_per_failure(value: object, message: str) -> None:
    with pytest.raises(BFFImproperlyConfigured, match=message):
        load_class(value, AccessTokenRetriever, "R")


def test_a_callable() -> None:
    assert load_callable("django_bff.backchannel.default_session", "S").__name__ == "default_session"
    with pytest.raises(BFFImproperlyConfigured, match="is not callable"):
        load_callable("django_bff.conf.DEFAULTS", "S")


def test_a_backend_made_like_storages() -> None:
    store = make_backend({"BACKEND": "django_bff.stores.CacheTokenStore", "OPTIONS": {}}, UserTokenStore, "W")
    assert isinstance(store, CacheTokenStore)
    with pytest.raises(InvalidTokenStore, match=r'W must be a dict with a "BACKEND" dotted path'):
        make_backend("django_bff.stores.CacheTokenStore", UserTokenStore, "W", InvalidTokenStore)
    with pytest.raises(InvalidTokenStore, match=r'W\["OPTIONS"\] rejected'):
        make_backend(
            {"BACKEND": "django_bff.stores.CacheTokenStore", "OPTIONS": {"X": 1}},
            UserTokenStore,
            "W",
            InvalidTokenStore,
        )
    made = make_backend("django_bff.stores.CacheTokenStore", UserTokenStore, "W", path_alone=True)
    assert isinstance(made, CacheTokenStore)
