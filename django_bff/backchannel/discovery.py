"""The provider's discovery document, its endpoints and its signing keys (JWKS), cached in the process.

In the data flow: read by the login (:mod:`django_bff.auth`), the logout-token
validation (:mod:`django_bff.logout_tokens`), :mod:`django_bff.oauth` and the
endpoints, through :func:`.session.fetch`; the package's docstring says how
the caches behave.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import jwt
from django.conf import settings

from django_bff.backchannel.session import fetch, forget_session
from django_bff.conf import bff_settings, on_reload
from django_bff.exceptions import BFFImproperlyConfigured, TokenServiceUnavailable

__all__ = ["get_discovery_document", "get_signing_key", "get_endpoint", "note_missing_endpoint", "clear_caches"]

logger = logging.getLogger("django_bff.backchannel")  # the package's one logger, named as before


_cache_lock = threading.Lock()
_discovery: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks: dict[str, tuple[float, dict[str, Any]]] = {}
#: The endpoints found missing that a WARNING already named (once per process and settings).
_missing: set[str] = set()


@on_reload
def clear_caches() -> None:
    """Forget the back-channel session, discovery documents, JWKS and the missing endpoints already logged."""
    forget_session()
    with _cache_lock:
        _discovery.clear()
        _jwks.clear()
        _missing.clear()


def _get_json(url: str, what: str) -> dict[str, Any]:
    response = fetch("GET", url, what=what, headers={"Accept": "application/json"})
    logger.info("%s GET %s -> %s", what, url, response.status_code)
    if response.status_code != 200:
        raise TokenServiceUnavailable(f"{what} answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise TokenServiceUnavailable(f"{what} did not answer JSON") from None
    if not isinstance(data, dict):
        raise TokenServiceUnavailable(f"{what} did not answer a JSON object")
    return data


def get_discovery_document(authority: str | None = None) -> dict[str, Any]:
    """The OpenID Provider metadata of ``authority`` (default ``BFF["AUTHORITY"]``), cached."""
    authority = (authority or bff_settings.AUTHORITY or "").rstrip("/")
    if not authority:
        raise BFFImproperlyConfigured('BFF["AUTHORITY"] is not set: no discovery document to read')
    now = time.monotonic()
    with _cache_lock:
        cached = _discovery.get(authority)
    if cached and cached[0] > now:
        return cached[1]
    document = _get_json(authority + "/.well-known/openid-configuration", "discovery")
    if str(document.get("issuer", "")).rstrip("/") != authority:
        raise TokenServiceUnavailable("discovery document issuer does not match the authority")
    with _cache_lock:
        _discovery[authority] = (now + bff_settings.DISCOVERY_CACHE_TTL, document)
    return document


_MOZILLA_ENDPOINTS = {
    "token_endpoint": "OIDC_OP_TOKEN_ENDPOINT",
    "userinfo_endpoint": "OIDC_OP_USER_ENDPOINT",
    "jwks_uri": "OIDC_OP_JWKS_ENDPOINT",
    "authorization_endpoint": "OIDC_OP_AUTHORIZATION_ENDPOINT",
}


def get_endpoint(name: str) -> str | None:
    """An endpoint of the provider by its discovery name (``token_endpoint``, ...).

    Explicit settings win (mozilla-django-oidc's ``OIDC_OP_*`` and
    ``BFF["REVOCATION_ENDPOINT"]``); otherwise the discovery document of
    ``BFF["AUTHORITY"]`` is asked. ``None`` when neither knows it.
    """
    explicit: Any = None
    if name in _MOZILLA_ENDPOINTS:
        explicit = getattr(settings, _MOZILLA_ENDPOINTS[name], None)
    elif name == "revocation_endpoint":
        explicit = bff_settings.REVOCATION_ENDPOINT
    if explicit:
        return str(explicit)
    if not bff_settings.AUTHORITY:
        return None
    value = get_discovery_document().get(name)
    return str(value) if value else None


def note_missing_endpoint(name: str, consequence: str) -> None:
    """Log that :func:`get_endpoint` knows no ``name`` (and so ``consequence``): a WARNING once per process, then DEBUG.

    Not for an endpoint that could not be looked up (discovery unavailable).
    """
    with _cache_lock:
        first = name not in _missing
        _missing.add(name)
    level = logging.WARNING if first else logging.DEBUG
    once = " (logged once per process)" if first else ""
    logger.log(level, "the provider's %s is unknown (not set, not in discovery): %s%s", name, consequence, once)


def _fetch_jwks(jwks_uri: str, now: float) -> dict[str, Any]:
    jwks = _get_json(jwks_uri, "jwks")
    if not isinstance(jwks.get("keys"), list):
        raise TokenServiceUnavailable("jwks document has no keys")
    with _cache_lock:
        _jwks[jwks_uri] = (now, jwks)
    return jwks


#: The JWK key type each JWS algorithm family needs.
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP", "HS": "oct"}


def _find_key(jwks: dict[str, Any], kid: str | None, alg: str) -> dict[str, Any] | None:
    kty = _KEY_TYPES.get(alg[:2])
    candidates = [
        k
        for k in jwks["keys"]
        if isinstance(k, dict) and k.get("use", "sig") == "sig" and (kty is None or k.get("kty") == kty)
    ]
    if kid is not None:
        candidates = [k for k in candidates if k.get("kid") == kid]
    candidates = [k for k in candidates if k.get("alg", alg) == alg]
    return candidates[0] if len(candidates) == 1 or (kid and candidates) else None


def get_signing_key(jwks_uri: str, kid: str | None, alg: str) -> jwt.PyJWK:
    """The key in the JWKS at ``jwks_uri`` that matches ``kid`` and ``alg``.

    Raises :class:`LookupError` when no key matches even after one re-fetch.
    """
    now = time.monotonic()
    with _cache_lock:
        cached = _jwks.get(jwks_uri)
    ttl = bff_settings.JWKS_CACHE_TTL
    if cached is None or now - cached[0] >= ttl:
        jwks = _fetch_jwks(jwks_uri, now)
    else:
        jwks = cached[1]
        key = _find_key(jwks, kid, alg)
        if key is None and now - cached[0] >= bff_settings.JWKS_MIN_REFETCH_INTERVAL:
            logger.info("signing key id not in cached JWKS; fetching %s again", jwks_uri)
            jwks = _fetch_jwks(jwks_uri, now)
    key = _find_key(jwks, kid, alg)
    if key is None:
        raise LookupError("no signing key matches the token's kid and alg")
    try:
        return jwt.PyJWK(json.loads(json.dumps(key)), algorithm=alg)
    except jwt.PyJWTError:
        # A malformed key in the provider's JWKS, or an algorithm PyJWT cannot use with it.
        raise LookupError("the matching JWKS key is not usable with the token's alg") from None
