from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import logout

from django_bff.stores import get_token_store
from django_bff.testing import UserTokenStoreContract, sample_token

pytestmark = pytest.mark.django_db(transaction=True)


def test_django_logout_clears_the_tokens(user: Any) -> None:
    contract = UserTokenStoreContract()
    request = contract.new_request(user=user)
    get_token_store().store_token(request, sample_token(1))
    key = contract.finish_request(request)
    again = contract.new_request(key, user)
    ref = again.session["_bff_token_ref"]
    logout(again)
    assert get_token_store().read_record(ref) is None  # type: ignore[attr-defined]


def test_logout_survives_a_broken_store(user: Any, settings: Any, leak_guard: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    settings.BFF = {**settings.BFF, "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore"}}
    request = UserTokenStoreContract().new_request(user=user)
    request.session["_bff_token_ref"] = "a" * 32
    logout(request)  # Redis is down: logged, not raised
    assert not request.user.is_authenticated
    assert any(r.levelname == "ERROR" and r.name == "django_bff.receivers" for r in leak_guard.records)


def test_logout_without_a_session_is_ignored() -> None:
    from django_bff.receivers import _on_logout

    _on_logout(sender=None, request=None, user=None)


def test_logout_survives_a_broken_session_index(user: Any, settings: Any, leak_guard: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    settings.BFF = {**settings.BFF, "SESSION_INDEX": {"BACKEND": "django_bff.sessions.CacheSessionIndex"}}
    request = UserTokenStoreContract().new_request(user=user)
    request.session["_bff_sid"] = "s-1"
    logout(request)  # the index's Redis is down: logged, not raised
    assert not request.user.is_authenticated
    assert any("session index" in r.getMessage() for r in leak_guard.records if r.levelname == "ERROR")
