"""The back-channel: every call django_bff makes to the token service.

Reference: "The token management library uses a named HTTP client from the HTTP
client factory for all token service communication. You can provide a
customized HTTP client yourself using the well-known name". Here the well-known
name is the setting ``BFF["BACKCHANNEL_SESSION"]``: a dotted path to a callable
that returns a :class:`requests.Session`. It is used for the code exchange at
login, refresh, revocation, discovery and JWKS. The default,
:func:`default_session`, pools connections, has finite connect and read
timeouts, never follows redirects and sends a ``django-bff`` User-Agent.

Discovery documents and JWKS are cached in the process with a TTL; a signing key
id (``kid``) that is not in the cached JWKS triggers one re-fetch (at most one per
``JWKS_MIN_REFETCH_INTERVAL`` seconds per JWKS URL, so forged ``kid`` values
cannot make us hammer the provider).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import jwt
import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

import django_bff
from django_bff.conf import bff_settings, on_reload
from django_bff.exceptions import BFFImproperlyConfigured, TokenServiceUnavailable

__all__ = [
    "default_session",
    "BackchannelSession",
    "get_backchannel_session",
    "get_discovery_document",
    "get_signing_key",
    "get_endpoint",
    "clear_caches",
]

logger = logging.getLogger(__name__)

USER_AGENT = f"django-bff/{django_bff.__version__}"


class BackchannelSession(requests.Session):
    """A :class:`requests.Session` with a default timeout and no redirects."""

    def __init__(self, timeout: tuple[float, float], pool_size: int = 10) -> None:
        super().__init__()
        self.timeout = timeout
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        # Per request, so that REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment cannot
        # replace BFF["BACKCHANNEL_VERIFY"] (requests lets them win over the session's value).
        kwargs.setdefault("verify", self.verify)
        # Forced, not defaulted: Session.get() itself defaults allow_redirects to True.
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


def default_session() -> requests.Session:
    """The default ``BFF["BACKCHANNEL_SESSION"]``: pooled, with finite timeouts."""
    session = BackchannelSession(bff_settings.backchannel_timeout, int(bff_settings.BACKCHANNEL_POOL_SIZE))
    session.verify = bff_settings.BACKCHANNEL_VERIFY
    cert = bff_settings.BACKCHANNEL_CLIENT_CERT
    if cert:
        # Mutual TLS to the token service (RFC 8705 tls_client_auth, or a provider that asks for it).
        session.cert = cert if isinstance(cert, str) else tuple(cert)
    return session


_session_lock = threading.Lock()
_session: requests.Session | None = None


def get_backchannel_session() -> requests.Session:
    """The process-wide session made by ``BFF["BACKCHANNEL_SESSION"]`` (made once)."""
    global _session
    session = _session
    if session is None:
        with _session_lock:
            if _session is None:
                factory = bff_settings.BACKCHANNEL_SESSION
                made = factory()
                if not isinstance(made, requests.Session):
                    raise BFFImproperlyConfigured(
                        f'BFF["BACKCHANNEL_SESSION"] must return a requests.Session, got {type(made).__name__}'
                    )
                _session = made
            session = _session
    return session


# --- discovery and JWKS -------------------------------------------------------

_cache_lock = threading.Lock()
_discovery: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks: dict[str, tuple[float, dict[str, Any]]] = {}


@on_reload
def clear_caches() -> None:
    """Forget the back-channel session, discovery documents and JWKS."""
    global _session
    with _session_lock:
        if _session is not None:
            _session.close()
        _session = None
    with _cache_lock:
        _discovery.clear()
        _jwks.clear()


def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        response = get_backchannel_session().get(url, headers={"Accept": "application/json"})
    except requests.RequestException as e:
        logger.warning("%s request to %s failed: %s", what, url, type(e).__name__)
        raise TokenServiceUnavailable(f"{what} unreachable") from None
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
        _discovery[authority] = (now + float(bff_settings.DISCOVERY_CACHE_TTL), document)
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
    ttl = float(bff_settings.JWKS_CACHE_TTL)
    if cached is None or now - cached[0] >= ttl:
        jwks = _fetch_jwks(jwks_uri, now)
    else:
        jwks = cached[1]
        key = _find_key(jwks, kid, alg)
        if key is None and now - cached[0] >= float(bff_settings.JWKS_MIN_REFETCH_INTERVAL):
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
