"""Tokens at rest: the encrypted text a token is kept as, and back. No I/O happens here.

In the data flow: the last step before storage and the first after it, for the
stores (:mod:`django_bff.stores`) and the token manager's cache
(:mod:`django_bff.token_manager.single_flight`).

Every token django_bff keeps outside the process goes through this module: the
user tokens in a store's record (:mod:`django_bff.stores`), the client-credentials
and exchanged tokens in the cache (:mod:`django_bff.token_manager`). Each is
JSON, encrypted with :func:`django_bff.crypto.encrypt` (Fernet, keys from
``BFF["TOKEN_ENCRYPTION_KEYS"]``).

A value that cannot be read back (tampered, encrypted with a key rotated away,
not JSON, or not a token) decodes to ``None`` and is logged without its
content: the caller then treats it as absent.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from django_bff import crypto
from django_bff.tokens import ClientToken, UserToken

__all__ = ["encode_user_token", "decode_user_token", "encode_client_token", "decode_client_token"]

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("django.security.django_bff")


def encode_user_token(token: UserToken) -> str:
    return crypto.encrypt(json.dumps(token.to_dict(), separators=(",", ":")).encode())


def decode_user_token(value: object) -> UserToken | None:
    if not isinstance(value, str):
        return None
    try:
        return UserToken.from_dict(json.loads(crypto.decrypt(value)))
    except crypto.InvalidToken:
        security_logger.warning("stored tokens could not be decrypted (tampered, or the key was rotated away)")
    except (ValueError, TypeError, KeyError):
        security_logger.warning("stored tokens could not be decoded")
    return None


def _timestamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment else None


def _moment(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, timezone.utc) if timestamp is not None else None


def encode_client_token(token: ClientToken) -> str:
    data = {
        "access_token": token.access_token,
        "access_token_type": token.access_token_type,
        "expires_at": _timestamp(token.expires_at),
        "issued_at": _timestamp(token.issued_at),
        "scope": token.scope,
    }
    return crypto.encrypt(json.dumps(data).encode())


def decode_client_token(value: object) -> ClientToken | None:
    if not isinstance(value, str):
        return None
    try:
        data = json.loads(crypto.decrypt(value))
        return ClientToken(
            access_token=data["access_token"],
            access_token_type=data.get("access_token_type") or "Bearer",
            expires_at=_moment(data.get("expires_at")),
            scope=data.get("scope"),
            issued_at=_moment(data.get("issued_at")),
        )
    except (crypto.InvalidToken, ValueError, KeyError, TypeError):
        logger.warning("a cached token could not be read; requesting a new one")
        return None
