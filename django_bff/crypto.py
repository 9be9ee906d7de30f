"""Encryption of tokens at rest (Fernet from ``cryptography``).

In the data flow: under :mod:`django_bff.codecs` (every token at rest) and the
identity token kept in the session. No I/O.

Keys come from ``BFF["TOKEN_ENCRYPTION_KEYS"]``: a list of Fernet keys, the first
encrypts, all decrypt (rotation: put the new key first, keep the old ones until
every stored token was rewritten or expired). Left at ``None``, keys are derived
from ``SECRET_KEY`` then each of ``SECRET_KEY_FALLBACKS``, so rotating Django's
secret the documented way rotates these keys too.
"""

from __future__ import annotations

import base64
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.utils.crypto import salted_hmac

from django_bff.conf import bff_settings, per_settings

__all__ = ["encrypt", "decrypt", "derive_key", "get_fernet", "InvalidToken"]

logger = logging.getLogger(__name__)

_SALT = "django_bff.crypto.tokens"


def derive_key(secret: str | bytes) -> bytes:
    """A Fernet key derived from a Django secret key."""
    digest = salted_hmac(_SALT, "fernet-key", secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest)


@per_settings
def get_fernet() -> MultiFernet:
    keys = bff_settings.TOKEN_ENCRYPTION_KEYS
    if keys:
        fernets = [Fernet(k) for k in keys]
    else:
        secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        fernets = [Fernet(derive_key(s)) for s in secrets]
    return MultiFernet(fernets)


def encrypt(data: bytes) -> str:
    if not bff_settings.ENCRYPT_TOKENS:
        return "p:" + base64.urlsafe_b64encode(data).decode("ascii")
    return "f:" + get_fernet().encrypt(data).decode("ascii")


def decrypt(value: str) -> bytes:
    """Decrypt a value from :func:`encrypt`. Raises :class:`InvalidToken` when it cannot."""
    prefix, _, body = value.partition(":")
    if prefix == "f":
        return get_fernet().decrypt(body.encode("ascii"))
    if prefix == "p":
        try:
            return base64.b64decode(body.encode("ascii"), altchars=b"-_", validate=True)
        except ValueError as e:
            raise InvalidToken from e
    raise InvalidToken
