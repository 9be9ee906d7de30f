"""Tokens at rest: both codecs round-trip, encrypt, and read garbage as absent."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from django_bff.codecs import decode_client_token, decode_user_token, encode_client_token, encode_user_token
from django_bff.testing import sample_token
from django_bff.tokens import ClientToken


def test_user_tokens_round_trip_encrypted() -> None:
    token = sample_token(1, resource="urn:api")
    text = encode_user_token(token)
    assert token.access_token not in text and token.refresh_token not in text
    assert decode_user_token(text) == token


def test_client_tokens_round_trip_encrypted() -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    token = ClientToken("app-AAAAAAAAAA", "DPoP", expires_at=now + timedelta(minutes=5), scope="api", issued_at=now)
    text = encode_client_token(token)
    assert "app-AAAAAAAAAA" not in text
    assert decode_client_token(text) == token
    unknown = ClientToken("app-BBBBBBBBBB")
    assert decode_client_token(encode_client_token(unknown)) == unknown


def test_a_client_tokens_dpop_key_is_kept_with_it_encrypted() -> None:
    import json

    from django_bff.dpop import new_key

    key = new_key()
    token = ClientToken("app-AAAAAAAAAA", "DPoP", dpop_jwk=key)
    text = encode_client_token(token)
    assert json.loads(key)["d"] not in text
    assert decode_client_token(text) == token


@pytest.mark.parametrize("value", [None, 7, b"f:bytes", "f:garbage", "p:bm90IGpzb24", "p:e30"])
def test_what_cannot_be_read_is_absent(value: Any, caplog: Any) -> None:
    caplog.set_level(logging.WARNING)
    assert decode_user_token(value) is None
    assert decode_client_token(value) is None
    if isinstance(value, str):  # logged, never with the value
        assert caplog.records and all(value not in r.getMessage() for r in caplog.records)
        assert any(r.name == "django.security.django_bff" for r in caplog.records)
