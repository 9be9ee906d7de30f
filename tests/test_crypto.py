from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from django_bff import crypto


def test_round_trip_and_no_clear_text() -> None:
    value = crypto.encrypt(b"access-token-value")
    assert value.startswith("f:") and "access-token-value" not in value
    assert crypto.decrypt(value) == b"access-token-value"


def test_rotating_secret_key_keeps_old_tokens_readable(settings: Any) -> None:
    old = crypto.encrypt(b"v")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-0123456789-abcdefghijkl"
    assert crypto.decrypt(old) == b"v"
    assert crypto.encrypt(b"v") != old
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(old)


def test_explicit_keys_with_rotation(settings: Any) -> None:
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.BFF = {**settings.BFF, "TOKEN_ENCRYPTION_KEYS": [first]}
    old = crypto.encrypt(b"v")
    settings.BFF = {**settings.BFF, "TOKEN_ENCRYPTION_KEYS": [second, first]}
    assert crypto.decrypt(old) == b"v"
    assert Fernet(second.encode()).decrypt(crypto.encrypt(b"w")[2:].encode()) == b"w"


def test_encryption_can_be_turned_off(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "ENCRYPT_TOKENS": False}
    value = crypto.encrypt(b"v")
    assert value.startswith("p:") and crypto.decrypt(value) == b"v"


@pytest.mark.parametrize("value", ["x:abc", "no-prefix", "p:%%%%", "f:garbage"])
def test_garbage_is_invalid(value: str) -> None:
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(value)
