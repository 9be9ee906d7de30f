"""OAuth 2.0 requests to the token service, sent through the back-channel session.

In the data flow: between the token manager (and the login) and the
back-channel. It builds each OAuth request (the client's authentication from
:mod:`django_bff.clients` and :mod:`django_bff.assertions`), sends it through
:func:`django_bff.backchannel.fetch` and reads the answer.

Classifies every answer so callers get a value or one of two errors:

* :class:`~django_bff.exceptions.TokenRequestRejected`: the token service said
  no with an OAuth error (``invalid_grant``, ``invalid_client``...).
* :class:`~django_bff.exceptions.TokenServiceUnavailable`: it could not be
  reached, took longer than the deadline, answered 5xx, did not answer JSON,
  answered more than ``BFF["BACKCHANNEL_MAX_RESPONSE_SIZE"]`` bytes, or a token
  longer than ``BFF["MAX_TOKEN_SIZE"]`` characters. Transient: the caller keeps
  the tokens and asks the browser to retry.

Messages and logs name the endpoint, the grant type and the status code, never a
token, a code, a secret or the response body.

DPoP (RFC 9449): a token request given a key (``dpop_jwk``, a private JWK)
carries a fresh proof (:func:`django_bff.dpop.make_proof`), with the provider's
nonce when one is remembered (:mod:`django_bff.dpop_nonces`, per issuer). A
``use_dpop_nonce`` refusal with a ``DPoP-Nonce`` header is sent once more with
that nonce (and a new client assertion: they are single use); every
``DPoP-Nonce`` the provider answers is remembered for the next request. The
answer's ``token_type`` must then be ``DPoP``: a bearer token is refused
(:class:`~django_bff.exceptions.TokenServiceError`) unless
``BFF["DPOP"]["ACCEPT_BEARER"]``, and logged either way.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

from requests.auth import HTTPBasicAuth

from django_bff import telemetry
from django_bff.assertions import JWT_BEARER, get_assertion_service
from django_bff.backchannel import BackchannelResponse, fetch, get_endpoint, note_missing_endpoint
from django_bff.clients import ClientConfig, get_client
from django_bff.conf import bff_settings
from django_bff.dpop import make_proof
from django_bff.dpop_nonces import issuer_scope, nonce_for, remember_nonce
from django_bff.exceptions import (
    BFFError,
    BFFImproperlyConfigured,
    TokenRequestRejected,
    TokenServiceError,
    TokenServiceUnavailable,
)

__all__ = ["token_request", "revoke"]

logger = logging.getLogger(__name__)


def _authenticate(
    data: dict[str, str], client: ClientConfig | None, endpoint: str, assertion: str | None = None
) -> HTTPBasicAuth | None:
    """Add the client's authentication to a token-service request (RFC 6749 section 2.3.1, RFC 7523).

    ``assertion``, a client assertion the caller made for this request
    (``UserTokenRequestParameters.assertion``), authenticates it in place of
    the client's own method.
    """
    client = client or get_client("default")
    data.pop("client_secret", None)
    if assertion:
        data.update(client_id=client.client_id, client_assertion_type=JWT_BEARER, client_assertion=assertion)
        return None
    if client.auth_method == "tls_client_auth":
        # RFC 8705 section 2.1: the TLS client certificate authenticates; only the id is sent.
        data["client_id"] = client.client_id
        return None
    if client.auth_method == "private_key_jwt":
        service = get_assertion_service(client.name)
        if service is None:
            raise BFFImproperlyConfigured(
                f'client {client.name!r} uses private_key_jwt: set BFF["CLIENT_ASSERTION_SERVICE"]'
            )
        # A new assertion for every request: the provider refuses a jti it has seen. Its
        # audience is the token endpoint even when revoking (RFC 7523 section 3: providers
        # such as Keycloak refuse the revocation URL there).
        try:
            audience = client.endpoint()
        except BFFImproperlyConfigured:
            audience = endpoint
        try:
            made = service.get_client_assertion(client.client_id, audience, client.issuer)
        except BFFError:
            raise
        except Exception as e:
            logger.error("the client assertion service failed: %s", type(e).__name__)
            raise TokenServiceError("the client assertion could not be made") from None
        data.update(client_id=client.client_id, client_assertion_type=made.type, client_assertion=made.value)
        return None
    if client.client_secret and client.auth_method == "client_secret_basic":
        data.pop("client_id", None)
        # Both parts are form-urlencoded before Basic encoding.
        return HTTPBasicAuth(quote(client.client_id, safe=""), quote(client.client_secret, safe=""))
    data["client_id"] = client.client_id
    if client.client_secret:
        data["client_secret"] = client.client_secret
    return None


def _retry_after(response: BackchannelResponse | None) -> int:
    default = bff_settings.RETRY_AFTER
    if response is None:
        return default
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() and 0 < int(value) <= 3600 else default


def _post(
    endpoint: str,
    data: dict[str, str],
    what: str,
    client: ClientConfig | None = None,
    dpop: tuple[str, str] | None = None,
    nonce: str | None = None,
    assertion: str | None = None,
) -> BackchannelResponse:
    """POST ``data``; with ``dpop`` (the key, the nonce scope), a proof with ``nonce`` (else the one remembered)."""
    auth = _authenticate(data, client, endpoint, assertion)
    headers = {"Accept": "application/json"}
    if dpop is not None:
        headers["DPoP"] = make_proof(dpop[0], "POST", endpoint, nonce=nonce or nonce_for(dpop[1]))
    started = time.monotonic()
    response = fetch("POST", endpoint, what=what, data=data, auth=auth, headers=headers)
    logger.info(
        "%s POST %s -> %s in %.0f ms", what, endpoint, response.status_code, (time.monotonic() - started) * 1000
    )
    if dpop is not None:
        remember_nonce(dpop[1], response.headers.get("DPoP-Nonce"))  # any answer's nonce replaces the last
    return response


def _check_token_sizes(body: dict[str, Any], what: str) -> None:
    """Refuse tokens no API would take: a provider (or something in front of it) gone wrong."""
    limit = bff_settings.MAX_TOKEN_SIZE
    for name in ("access_token", "refresh_token", "id_token"):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            logger.warning("%s: the answer's %s is not a string of at most %d characters; refused", what, name, limit)
            raise TokenServiceUnavailable(f"{what}: the answer's {name} is unusable", retry_after=_retry_after(None))


def token_request(
    data: dict[str, str],
    *,
    endpoint: str | None = None,
    client: ClientConfig | None = None,
    dpop_jwk: str | None = None,
    assertion: str | None = None,
) -> dict[str, Any]:
    """POST a token request (RFC 6749 section 3.2) and return the parsed JSON answer.

    ``client`` (default: the OIDC client) authenticates the request and, without
    ``endpoint``, says where it goes; ``assertion`` (a client assertion of the
    caller's, a JWT) authenticates it instead. With ``dpop_jwk`` (a private JWK,
    JSON) the request carries a DPoP proof signed with it and the token is bound
    to it.
    Counted in ``bff.token.requests`` and ``bff.token.request.duration``
    (:mod:`django_bff.telemetry`).
    """
    grant_type = data.get("grant_type", "?")
    started = time.monotonic()
    outcome = "ok"
    try:
        return _token_request(data, endpoint, client, dpop_jwk, assertion)
    except TokenServiceUnavailable as e:
        outcome = "in_doubt" if e.in_doubt else "unavailable"
        raise
    except TokenServiceError:
        outcome = "rejected"
        raise
    finally:
        attributes = {"bff.grant_type": grant_type, "bff.outcome": outcome}
        telemetry.record("bff.token.requests", attributes)
        telemetry.observe("bff.token.request.duration", time.monotonic() - started, attributes)


def _token_request(
    data: dict[str, str],
    endpoint: str | None,
    client: ClientConfig | None,
    dpop_jwk: str | None,
    assertion: str | None = None,
) -> dict[str, Any]:
    endpoint = endpoint or (client.endpoint() if client else get_endpoint("token_endpoint"))
    if not endpoint:
        raise BFFImproperlyConfigured('no token endpoint: set OIDC_OP_TOKEN_ENDPOINT or BFF["AUTHORITY"]')
    grant_type = data.get("grant_type", "?")
    what = f"token request ({grant_type})"
    issuer = (client.issuer if client else None) or bff_settings.AUTHORITY or endpoint
    dpop = (dpop_jwk, issuer_scope(issuer)) if dpop_jwk else None
    response = _post(endpoint, dict(data), what, client, dpop, assertion=assertion)
    body = _answer(response, what)
    nonce = response.headers.get("DPoP-Nonce")
    if dpop is not None and body.get("error") == "use_dpop_nonce" and nonce:
        logger.debug("%s: the provider asks for a DPoP nonce; sending it again with one", what)
        # A caller's own assertion goes again (only the service makes new ones): a provider that
        # refuses a jti it has seen then refuses the retry (docs/token-management.rst).
        response = _post(endpoint, dict(data), what, client, dpop, nonce, assertion)
        body = _answer(response, what)
    if response.status_code != 200:
        error = body.get("error")
        if isinstance(error, str) and error:
            # Only the registered code; the description may echo input and is not logged.
            code = error if error.replace("_", "").isalnum() else "invalid_error_code"
            logger.info("%s rejected: %s", what, code)
            if dpop is not None and code == "invalid_dpop_proof":
                logger.warning(
                    "%s: the provider refused the DPoP proof; does it take the key's algorithm? "
                    "(manage.py check --deploy compares it with the discovery document: django_bff.E055)",
                    what,
                )
            raise TokenRequestRejected(f"{what}: rejected with {code}", error=code)
        raise TokenServiceError(f"{what}: HTTP {response.status_code} without an OAuth error")
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise TokenServiceUnavailable(f"{what}: the answer has no access_token", retry_after=_retry_after(response))
    _check_token_sizes(body, what)
    if dpop is not None:
        _check_dpop_bound(body, what)
    return body


def _check_dpop_bound(body: dict[str, Any], what: str) -> None:
    """A request with a proof must get a DPoP token; a bearer one only with ``BFF["DPOP"]["ACCEPT_BEARER"]``."""
    token_type = str(body.get("token_type") or "")
    if token_type.lower() == "dpop":
        return
    options = bff_settings.DPOP
    if options is not None and options.accept_bearer:
        logger.warning("%s: a DPoP proof was sent and the provider answered a %r token; kept", what, token_type)
        return
    logger.error(
        "%s: a DPoP proof was sent and the provider answered a %r token; refused (is DPoP on for the client "
        'at the provider? BFF["DPOP"]["ACCEPT_BEARER"] takes such tokens)',
        what,
        token_type,
    )
    raise TokenServiceError(f"{what}: the provider did not bind the token to the DPoP key")


def _answer(response: BackchannelResponse, what: str) -> dict[str, Any]:
    """The JSON object a token-service answer holds; transient errors for 5xx and anything not JSON."""
    if response.status_code >= 500:
        raise TokenServiceUnavailable(f"{what}: HTTP {response.status_code}", retry_after=_retry_after(response))
    try:
        body = response.json()
    except ValueError:
        raise TokenServiceUnavailable(f"{what}: the answer is not JSON", retry_after=_retry_after(response)) from None
    if not isinstance(body, dict):
        raise TokenServiceUnavailable(f"{what}: the answer is not a JSON object", retry_after=_retry_after(response))
    return body


def revoke(token: str, token_type_hint: str = "refresh_token") -> bool:
    """Revoke a token (RFC 7009). Best effort: True when the service confirmed, else False."""
    try:
        endpoint = get_endpoint("revocation_endpoint")
        if not endpoint:
            note_missing_endpoint("revocation_endpoint", "refresh tokens are not revoked (django_bff.W020)")
            return False
        response = _post(endpoint, {"token": token, "token_type_hint": token_type_hint}, "revocation")
    except (TokenServiceError, BFFImproperlyConfigured):
        return False
    return response.status_code == 200
