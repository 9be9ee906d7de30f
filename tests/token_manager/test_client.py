"""Client-credentials tokens (token_manager.client): cached encrypted per scope and resource, one request at a time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from asgiref.sync import async_to_sync
from django.core.cache import caches

from django_bff.locks import CacheLock
from django_bff.token_manager import aget_client_access_token, get_client_access_token
from django_bff.tokens import TokenError

TOKEN_URL = "http://127.0.0.1:9/token"


@responses.activate
def test_client_token_is_cached_per_scope_and_resource() -> None:
    responses.post(TOKEN_URL, json={"access_token": "app-AAAAAAAAAA", "expires_in": 300, "scope": "api"})
    assert get_client_access_token().access_token == "app-AAAAAAAAAA"
    assert get_client_access_token().access_token == "app-AAAAAAAAAA"
    assert len(responses.calls) == 1
    assert parse_qs(responses.calls[0].request.body) == {"grant_type": ["client_credentials"]}
    get_client_access_token(scope="other")
    get_client_access_token(resource="urn:r")
    assert len(responses.calls) == 3
    assert parse_qs(responses.calls[1].request.body)["scope"] == ["other"]
    assert parse_qs(responses.calls[2].request.body)["resource"] == ["urn:r"]
    get_client_access_token(force_renewal=True)
    assert len(responses.calls) == 4
    assert async_to_sync(aget_client_access_token)().access_token == "app-AAAAAAAAAA"
    assert len(responses.calls) == 4


@responses.activate
def test_client_token_cached_encrypted() -> None:
    responses.post(TOKEN_URL, json={"access_token": "app-secret-AAAAAAAAAA", "expires_in": 300})
    get_client_access_token()
    # LocMemCache's private dict: the bytes really stored
    raw = b"".join(bytes(v) for v in caches["default"]._cache.values())  # type: ignore[attr-defined]
    assert b"app-secret-AAAAAAAAAA" not in raw


@responses.activate
def test_client_token_failures_are_not_cached() -> None:
    responses.post(TOKEN_URL, status=503)
    assert get_client_access_token().error is TokenError.TOKEN_SERVICE_UNAVAILABLE
    responses.replace(responses.POST, TOKEN_URL, status=401, json={"error": "invalid_client"})
    assert get_client_access_token().error is TokenError.TOKEN_SERVICE_ERROR
    responses.replace(responses.POST, TOKEN_URL, json={"access_token": "app-AAAAAAAAAA", "expires_in": 300})
    assert get_client_access_token().token
    assert len(responses.calls) == 3


@responses.activate
def test_client_token_short_or_unknown_lifetime(settings: Any) -> None:
    responses.post(TOKEN_URL, json={"access_token": "app-AAAAAAAAAA", "expires_in": 30})
    get_client_access_token()
    get_client_access_token()
    # Lives less than REFRESH_BEFORE_EXPIRATION: cached for half its lifetime, not refetched per call.
    assert len(responses.calls) == 1
    responses.replace(responses.POST, TOKEN_URL, json={"access_token": "app-BBBBBBBBBB"})
    get_client_access_token(scope="x")
    assert get_client_access_token(scope="x").access_token == "app-BBBBBBBBBB"
    assert len(responses.calls) == 2  # unknown expiry: kept briefly


@responses.activate
def test_client_token_unknown_client_and_garbage_in_cache() -> None:
    from django_bff.exceptions import BFFImproperlyConfigured
    from django_bff.token_manager import _client_cache_key

    with pytest.raises(BFFImproperlyConfigured, match="unknown client"):
        get_client_access_token("billing")
    caches["default"].set(_client_cache_key("default", None, None), "f:garbage", 300)
    responses.post(TOKEN_URL, json={"access_token": "app-AAAAAAAAAA", "expires_in": 300})
    assert get_client_access_token().access_token == "app-AAAAAAAAAA"


@responses.activate
def test_client_token_waiter_takes_what_the_other_worker_cached(settings: Any) -> None:
    from django_bff.token_manager import _client_cache_key, _encode_client_token
    from django_bff.tokens import ClientToken

    key = _client_cache_key("default", None, None)
    lock = CacheLock(caches["default"], key + ":lock", 30)
    assert lock.acquire()

    def other_worker() -> None:
        token = ClientToken("other-AAAAAAAAAA", expires_at=datetime.now(timezone.utc) + timedelta(minutes=10))
        caches["default"].set(key, _encode_client_token(token), 300)
        lock.release()

    timer = threading.Timer(0.2, other_worker)
    timer.start()
    assert get_client_access_token().access_token == "other-AAAAAAAAAA"
    timer.join()
    assert len(responses.calls) == 0
    settings.BFF = {**settings.BFF, "REFRESH_LOCK_WAIT": 0.2}
    other = CacheLock(caches["default"], _client_cache_key("default", "s", None) + ":lock", 30)
    assert other.acquire()
    assert get_client_access_token(scope="s").error is TokenError.REFRESH_LOCK_TIMEOUT
    other.release()


# --- tokens for a resource or a narrower scope ----------------------------------------------------
