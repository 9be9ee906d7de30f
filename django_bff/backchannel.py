"""The back-channel: every call django_bff makes to the token service.

In the data flow: the bottom of every path to the provider. The token manager
and the login ask :mod:`django_bff.oauth`, which sends through :func:`fetch`
here; the login and the logout-token validation
(:mod:`django_bff.logout_tokens`) read the provider's discovery document and
JWKS from here.

Reference: "The token management library uses a named HTTP client from the HTTP
client factory for all token service communication. You can provide a
customized HTTP client yourself using the well-known name". Here the well-known
name is the setting ``BFF["BACKCHANNEL_SESSION"]``: a dotted path to a callable
that returns a :class:`requests.Session`. It is used for the code exchange at
login, refresh, revocation, discovery, JWKS and userinfo. The default,
:func:`default_session`, pools connections, has finite connect and read
timeouts, never follows redirects and sends a ``django-bff`` User-Agent.

Every call goes through :func:`fetch`, which bounds it whatever session the
setting returns: the whole exchange (connecting, sending, reading the complete
answer) must finish within ``BACKCHANNEL_CONNECT_TIMEOUT +
BACKCHANNEL_READ_TIMEOUT`` seconds, a deadline that a provider trickling its
answer byte by byte cannot stretch (``requests``' read timeout applies to each
read from the socket, not to the answer); and an answer larger than
``BFF["BACKCHANNEL_MAX_RESPONSE_SIZE"]`` is refused without being read whole.
Both are :class:`~django_bff.exceptions.TokenServiceUnavailable` (503 for the
browser). A request that may have reached the provider without a complete
answer coming back is marked ``in_doubt``: the token manager then does not send
the same refresh token again until the provider could have finished with it.

Discovery documents and JWKS are cached in the process with a TTL; a signing key
id (``kid``) that is not in the cached JWKS triggers one re-fetch (at most one per
``JWKS_MIN_REFETCH_INTERVAL`` seconds per JWKS URL, so forged ``kid`` values
cannot make us hammer the provider).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

import django_bff
from django_bff import telemetry
from django_bff.conf import bff_settings, on_reload, per_settings_closing, stop_threads
from django_bff.exceptions import BFFImproperlyConfigured, TokenServiceUnavailable

__all__ = [
    "default_session",
    "BackchannelSession",
    "BackchannelResponse",
    "fetch",
    "get_backchannel_session",
    "get_discovery_document",
    "get_signing_key",
    "get_endpoint",
    "note_missing_endpoint",
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
    session = BackchannelSession(bff_settings.backchannel_timeout, bff_settings.BACKCHANNEL_POOL_SIZE)
    session.verify = bff_settings.BACKCHANNEL_VERIFY
    cert = bff_settings.BACKCHANNEL_CLIENT_CERT
    if cert:
        # Mutual TLS to the token service (RFC 8705 tls_client_auth, or a provider that asks for it).
        session.cert = cert if isinstance(cert, str) else (cert[0], cert[1])  # a pair: the check E030
    return session


@per_settings_closing(requests.Session.close)
def get_backchannel_session() -> requests.Session:
    """The process-wide session made by ``BFF["BACKCHANNEL_SESSION"]`` (made once per settings)."""
    made = bff_settings.BACKCHANNEL_SESSION()
    if not isinstance(made, requests.Session):
        raise BFFImproperlyConfigured(
            f'BFF["BACKCHANNEL_SESSION"] must return a requests.Session, got {type(made).__name__}'
        )
    return made


# --- one bounded exchange -----------------------------------------------------


@dataclass(frozen=True, repr=False)
class BackchannelResponse:
    """A complete answer of the token service, read within the deadline and the size limit."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The parsed body; :class:`ValueError` when it is not JSON."""
        return json.loads(self.content)

    def __repr__(self) -> str:
        return f"<BackchannelResponse {self.status_code}, {len(self.content)} bytes>"


@per_settings_closing(stop_threads)
def _get_executor() -> concurrent.futures.ThreadPoolExecutor:
    """Threads that make back-channel exchanges, so that a caller can stop waiting at the deadline."""
    size = max(4, bff_settings.BACKCHANNEL_POOL_SIZE)
    return concurrent.futures.ThreadPoolExecutor(size, thread_name_prefix="django-bff-backchannel")


def _retry_after() -> int:
    return bff_settings.RETRY_AFTER


def _maybe_sent(error: requests.RequestException) -> bool:
    """False when ``error`` happened before the request could reach the server."""
    if isinstance(error, (requests.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        return False
    cause = error.args[0] if error.args else None
    reason = getattr(cause, "reason", cause)
    return not isinstance(reason, urllib3.exceptions.NewConnectionError)


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: each read returns after at most one read from the socket."""
    raw = response.raw
    if isinstance(raw, urllib3.HTTPResponse):
        while True:
            chunk = raw.read1(65536, decode_content=True)
            if not chunk:
                return
            yield chunk
    else:  # pragma: no cover - a BACKCHANNEL_SESSION whose adapter is not urllib3's
        yield from response.iter_content(65536)


def _exchange(
    session: requests.Session,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    deadline: float,
    limit: int,
    what: str,
) -> BackchannelResponse:
    if time.monotonic() >= deadline:
        # Queued behind stuck exchanges until its caller gave up: never send it late.
        raise TokenServiceUnavailable(f"{what}: not sent in time", retry_after=_retry_after())
    try:
        response = session.request(method, url, stream=True, allow_redirects=False, **kwargs)
    except requests.Timeout as e:
        logger.warning("%s to %s timed out", what, url)
        raise TokenServiceUnavailable(
            f"{what}: the token service did not answer in time", retry_after=_retry_after(), in_doubt=_maybe_sent(e)
        ) from None
    except requests.RequestException as e:
        logger.warning("%s to %s failed: %s", what, url, type(e).__name__)
        raise TokenServiceUnavailable(
            f"{what}: the token service is unreachable", retry_after=_retry_after(), in_doubt=_maybe_sent(e)
        ) from None
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            logger.warning("%s to %s: the answer announces %s bytes, over %d; refused", what, url, declared, limit)
            raise TokenServiceUnavailable(f"{what}: the answer is too large", retry_after=_retry_after())
        body = bytearray()
        for chunk in _chunks(response):
            body += chunk
            if len(body) > limit:
                logger.warning("%s to %s: the answer is over %d bytes; refused", what, url, limit)
                raise TokenServiceUnavailable(f"{what}: the answer is too large", retry_after=_retry_after())
            if time.monotonic() > deadline:
                raise TokenServiceUnavailable(f"{what}: the answer took too long", in_doubt=True)
        return BackchannelResponse(response.status_code, response.headers, bytes(body))
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as e:
        logger.warning("%s to %s: the answer was cut off: %s", what, url, type(e).__name__)
        raise TokenServiceUnavailable(
            f"{what}: the answer was cut off", retry_after=_retry_after(), in_doubt=True
        ) from None
    finally:
        response.close()


def fetch(
    method: str,
    url: str,
    *,
    what: str,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: AuthBase | tuple[str, str] | None = None,
) -> BackchannelResponse:
    """One exchange with the token service through the back-channel session, bounded.

    The whole exchange has ``BACKCHANNEL_CONNECT_TIMEOUT + BACKCHANNEL_READ_TIMEOUT``
    seconds; the answer at most ``BACKCHANNEL_MAX_RESPONSE_SIZE`` bytes. Raises
    :class:`~django_bff.exceptions.TokenServiceUnavailable` (with ``in_doubt``
    when the request may have been acted on) and nothing else for network
    trouble; any HTTP status is a :class:`BackchannelResponse`.
    """
    connect, read = bff_settings.backchannel_timeout
    total = connect + read
    deadline = time.monotonic() + total
    attributes = {
        "http.request.method": method,
        "url.full": telemetry.without_query(url),
        **telemetry.server_attributes(url),
        "bff.operation": what,
    }
    with telemetry.span(method, attributes) as span:
        sent_headers = dict(headers or {})
        telemetry.inject(sent_headers)
        kwargs: dict[str, Any] = {"timeout": (connect, read), "headers": sent_headers, "auth": auth}
        if data is not None:
            kwargs["data"] = dict(data)
        limit = bff_settings.BACKCHANNEL_MAX_RESPONSE_SIZE
        session = get_backchannel_session()
        future = _get_executor().submit(_exchange, session, method, url, kwargs, deadline, limit, what)
        try:
            response = future.result(timeout=total)
        except concurrent.futures.TimeoutError:
            sent = not future.cancel()
            logger.warning("%s to %s: no complete answer within %.0f s; abandoned", what, url, total)
            span.error("timeout")
            raise TokenServiceUnavailable(
                f"{what}: the token service did not answer in time", retry_after=_retry_after(), in_doubt=sent
            ) from None
        except TokenServiceUnavailable as e:
            span.error("in_doubt" if e.in_doubt else "unavailable")
            raise
        span.set("http.response.status_code", response.status_code)
        if response.status_code >= 400:
            span.error(str(response.status_code))
        return response


# --- discovery and JWKS -------------------------------------------------------

_cache_lock = threading.Lock()
_discovery: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks: dict[str, tuple[float, dict[str, Any]]] = {}
#: The endpoints found missing that a WARNING already named (once per process and settings).
_missing: set[str] = set()


@on_reload
def clear_caches() -> None:
    """Forget the back-channel session, discovery documents, JWKS and the missing endpoints already logged."""
    get_backchannel_session.reset()
    _get_executor.reset()
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
