"""Tokens at rest: the encrypted text a token is kept as, and back. No I/O happens here.

In the data flow: the last step before storage and the first after it, for the
stores (:mod:`django_bff.stores`) and the token manager's cache
(:mod:`django_bff.token_manager.single_flight`).

Every token django_bff keeps outside the process goes through this module: the
user tokens in a store's record (:mod:`django_bff.stores`), the client-credentials
and exchanged tokens in the cache (:mod:`django_bff.token_manager`). Each is
JSON, encrypted with :func:`django_bff.crypto.encrypt` (Fernet, keys from
``BFF["TOKEN_ENCRYPTION_KEYS"]``).

A user token record, as the stores keep it, is
``{"v": writes, "tokens": {resource: encrypted token}, "versions": {resource: v}}``:
``versions`` says at which write each resource's token last changed, so a
store's compare-and-set works per resource (refreshing one resource's token
never conflicts with a refresh of another's). :func:`valid_record`,
:func:`record_token`, :func:`record_tokens` and :func:`with_token` read and
make one.

A value that cannot be read back (tampered, encrypted with a key rotated away,
not JSON, or not a token) decodes to ``None`` and is logged without its
content: the caller then treats it as absent.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from django_bff import crypto
from django_bff.tokens import ClientToken, UserToken

__all__ = [
    "encode_user_token",
    "decode_user_token",
    "encode_client_token",
    "decode_client_token",
    "valid_record",
    "record_token",
    "record_tokens",
    "with_token",
]

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


def valid_record(value: object) -> dict[str, Any] | None:
    """``value`` when it has the shape of a user token record, else None."""
    if (
        isinstance(value, dict)
        and isinstance(value.get("v"), int)
        and isinstance(value.get("tokens"), dict)
        and isinstance(value.get("versions"), dict)
    ):
        return value
    return None


def record_token(record: dict[str, Any] | None, resource: str) -> UserToken | None:
    """The token ``record`` keeps for ``resource`` (None: none, or unreadable)."""
    return decode_user_token(record["tokens"].get(resource)) if record else None


def record_tokens(record: dict[str, Any] | None) -> list[UserToken]:
    """Every readable token of ``record``, in the order of their resource keys (the session's own first)."""
    tokens = [decode_user_token(record["tokens"][key]) for key in sorted(record["tokens"])] if record else []
    return [token for token in tokens if token is not None]


def with_token(record: dict[str, Any] | None, resource: str, token: UserToken) -> dict[str, Any]:
    """The record that follows ``record`` (None: the first) once ``token`` is kept for ``resource``."""
    version: int = (record["v"] + 1) if record else 1
    tokens: dict[str, str] = dict(record["tokens"]) if record else {}
    versions: dict[str, int] = dict(record["versions"]) if record else {}
    tokens[resource] = encode_user_token(token)
    versions[resource] = version
    return {"v": version, "tokens": tokens, "versions": versions}


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
        "dpop_jwk": token.dpop_jwk,  # DPoP: the key the token is bound to, encrypted with it
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
            dpop_jwk=data.get("dpop_jwk"),
            issued_at=_moment(data.get("issued_at")),
        )
    except (crypto.InvalidToken, ValueError, KeyError, TypeError):
        logger.warning("a cached token could not be read; requesting a new one")
        return None
