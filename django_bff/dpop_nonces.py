"""The DPoP nonces servers hand out (RFC 9449, sections 8 and 9), remembered across processes.

In the data flow: below the token manager and the proxy, beside the locks, in
the Django cache (``BFF["CACHE"]``, shared by every process). A server that
demands a nonce answers ``use_dpop_nonce`` with a ``DPoP-Nonce`` header; the
caller sends the request again with it and :func:`remember_nonce` keeps it, so
that the next request of any process starts with :func:`nonce_for` and costs no
second round trip until the server moves to a new nonce. Any answer that
carries a ``DPoP-Nonce`` replaces the remembered one.

A nonce is remembered per *scope*: the provider's, per issuer
(:func:`issuer_scope`), for the token service; an API's, per origin
(:func:`origin_scope`), for proxied and your own calls. A nonce is no secret
(the server sends it in the clear to anyone) and grants nothing without a
proof signed by the key the token is bound to; it is kept as it came, for
:data:`NONCE_LIFETIME` seconds at most.

A cache that cannot be reached is a degraded path, not an outage: no nonce is
remembered or recalled, and a server that demands one costs its one extra round
trip per request (logged once per process).
"""

from __future__ import annotations

import hashlib
import logging
from urllib.parse import urlsplit

from django.core.cache import caches

from django_bff.conf import bff_settings
from django_bff.faults import is_storage_error

__all__ = [
    "NONCE_LIFETIME",
    "issuer_scope",
    "origin_scope",
    "nonce_for",
    "anonce_for",
    "remember_nonce",
    "aremember_nonce",
]

logger = logging.getLogger(__name__)

#: How long a remembered nonce is offered, in seconds. Servers rotate theirs every few
#: minutes; one that has moved on answers ``use_dpop_nonce`` again, with the new one.
NONCE_LIFETIME = 300
#: Longer than any nonce a server gives is legitimate: a longer one is not kept.
MAX_NONCE_LENGTH = 512

_warned = False


def issuer_scope(issuer: str) -> str:
    """The scope of a provider's nonce: its issuer, as configured."""
    return f"issuer {issuer.rstrip('/')}"


def origin_scope(url: str) -> str:
    """The scope of an API's nonce: the origin of ``url`` (scheme, host, port)."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80, "wss": 443, "ws": 80}.get(parts.scheme, 0)
    return f"origin {parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _key(scope: str) -> str:
    return "bff:dpop-nonce:" + hashlib.sha256(scope.encode()).hexdigest()


def _degraded(error: Exception) -> None:
    global _warned
    if not is_storage_error(error):
        raise error
    if not _warned:
        _warned = True
        logger.warning("DPoP nonces cannot be shared (%s): each request learns its own", type(error).__name__)


def nonce_for(scope: str) -> str | None:
    """The nonce last seen from ``scope``'s server, or None."""
    try:
        value = caches[bff_settings.CACHE].get(_key(scope))
    except Exception as e:
        _degraded(e)
        return None
    return value if isinstance(value, str) else None


async def anonce_for(scope: str) -> str | None:
    """Async twin of :func:`nonce_for`."""
    try:
        value = await caches[bff_settings.CACHE].aget(_key(scope))
    except Exception as e:
        _degraded(e)
        return None
    return value if isinstance(value, str) else None


def _keepable(nonce: str | None) -> bool:
    return bool(nonce) and len(str(nonce)) <= MAX_NONCE_LENGTH and str(nonce).isascii() and str(nonce).isprintable()


def remember_nonce(scope: str, nonce: str | None) -> None:
    """Keep the nonce ``scope``'s server just gave (from its ``DPoP-Nonce`` header), for the next request."""
    if not _keepable(nonce):
        return
    try:
        caches[bff_settings.CACHE].set(_key(scope), nonce, NONCE_LIFETIME)
    except Exception as e:
        _degraded(e)


async def aremember_nonce(scope: str, nonce: str | None) -> None:
    """Async twin of :func:`remember_nonce`."""
    if not _keepable(nonce):
        return
    try:
        await caches[bff_settings.CACHE].aset(_key(scope), nonce, NONCE_LIFETIME)
    except Exception as e:
        _degraded(e)
