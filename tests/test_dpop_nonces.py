"""The DPoP nonces of servers, remembered per issuer and per API origin in the shared cache."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from django.core.cache import caches

from django_bff import dpop_nonces
from django_bff.dpop_nonces import issuer_scope, nonce_for, origin_scope, remember_nonce


def test_a_nonce_is_remembered_per_scope_and_replaced_by_the_next() -> None:
    api, other = origin_scope("https://api.example.com/v1/orders?x=1"), origin_scope("https://other.example.com/")
    assert nonce_for(api) is None
    remember_nonce(api, "n-1")
    assert nonce_for(api) == "n-1" and nonce_for(other) is None
    remember_nonce(api, "n-2")
    assert nonce_for(api) == "n-2"


def test_scopes_name_an_origin_and_an_issuer() -> None:
    assert origin_scope("https://API.example.com/v1/") == origin_scope("https://api.example.com:443/other")
    assert origin_scope("http://api.example.com/") != origin_scope("https://api.example.com/")
    assert origin_scope("https://api.example.com:8443/") != origin_scope("https://api.example.com/")
    assert issuer_scope("https://idp.example.com/") == issuer_scope("https://idp.example.com")
    assert issuer_scope("https://idp.example.com") != origin_scope("https://idp.example.com")


@pytest.mark.parametrize("nonce", [None, "", "x" * 513, "new\nline", "caf\u00e9"])
def test_a_nonce_that_no_server_would_send_is_not_kept(nonce: Any) -> None:
    scope = origin_scope("https://api.example.com/")
    remember_nonce(scope, nonce)
    assert nonce_for(scope) is None


def test_a_nonce_lives_in_the_shared_cache_for_its_lifetime(settings: Any) -> None:
    settings.CACHES = {**settings.CACHES, "shared": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.BFF = {**settings.BFF, "CACHE": "shared"}
    remember_nonce(issuer_scope("https://idp.example.com"), "n-1")
    shared: Any = caches["shared"]  # the local-memory cache's own dicts
    [key] = [k for k in shared._cache if "bff:dpop-nonce:" in k]
    assert "idp.example.com" not in key  # the scope goes by its digest
    assert dpop_nonces.NONCE_LIFETIME - 5 < shared._expire_info[key] - time.time() <= dpop_nonces.NONCE_LIFETIME


def test_a_cache_that_is_down_costs_a_round_trip_not_an_error(
    settings: Any, dead_cache: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dpop_nonces, "_warned", False)
    settings.BFF = {**settings.BFF, "CACHE": dead_cache}
    scope = origin_scope("https://api.example.com/")
    with caplog.at_level(logging.WARNING, logger="django_bff.dpop_nonces"):
        remember_nonce(scope, "n-1")
        assert nonce_for(scope) is None
        remember_nonce(scope, "n-2")
    warnings = [r.getMessage() for r in caplog.records if r.name == "django_bff.dpop_nonces"]
    assert len(warnings) == 1 and warnings[0].startswith("DPoP nonces cannot be shared (")


def test_any_other_cache_failure_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("a bug, not an outage")

    monkeypatch.setattr(caches["default"], "get", broken)
    with pytest.raises(TypeError):
        nonce_for(origin_scope("https://api.example.com/"))
