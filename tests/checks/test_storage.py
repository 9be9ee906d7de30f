"""The check of the token store (:mod:`django_bff.checks.storage`)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    "store",
    [
        "not a dict",
        {"BACKEND": "no.such.Store"},
        {"BACKEND": "django_bff.tokens.UserToken"},
        {"BACKEND": "django_bff.stores.CacheTokenStore", "OPTIONS": {"TYPO": 1}},
    ],
)
def test_E004_unusable_store(bff: Any, store: Any) -> None:
    assert "django_bff.E004" in bff(USER_TOKEN_STORE=store)


def test_E014_cache_store_unknown_cache(bff: Any) -> None:
    assert "django_bff.E014" in bff(
        USER_TOKEN_STORE={"BACKEND": "django_bff.stores.CacheTokenStore", "OPTIONS": {"CACHE": "x"}}
    )
