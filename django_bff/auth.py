"""The authentication backend: mozilla-django-oidc's, keeping the tokens.

In the data flow: the login's first step after the provider's callback, below
the endpoints; it hands the token response to :mod:`django_bff.handoff`.

mozilla-django-oidc validates the login and makes the Django user, then throws
the refresh token away. :class:`BFFAuthenticationBackend` changes what a BFF
needs and nothing else:

* the code exchange, userinfo and JWKS go through the back-channel session
  (``BFF["BACKCHANNEL_SESSION"]``), with its timeouts;
* the identity token's ``aud``, ``iss`` (when ``BFF["AUTHORITY"]`` is set),
  ``exp`` and ``nonce`` are checked, and keys come from the cached JWKS (an
  unknown ``kid`` re-fetches it once);
* the whole token response is kept and handed over (:mod:`django_bff.handoff`):
  once Django's ``login()`` has cycled the session key, the tokens go to the
  store (``BFF["SAVE_TOKENS"]``) and the ``token_response_received`` signal is
  sent;
* with no ``OIDC_OP_USER_ENDPOINT`` the claims come from the identity token, so
  providers whose userinfo endpoint refuses JWT access tokens work;
* with DPoP (``BFF["DPOP"]``) the code exchange carries a proof signed with the
  key ``/bff/login`` made for this login (:func:`django_bff.handoff.take_login_key`;
  a new one when the login started elsewhere), the token keeps that key
  (``UserToken.dpop_jwk``), and userinfo is called with the DPoP scheme.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any

import jwt
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend  # type: ignore[import-untyped]  # ships no types

from django_bff import oauth
from django_bff.backchannel import fetch, get_endpoint, get_signing_key
from django_bff.clock import clock
from django_bff.conf import bff_settings
from django_bff.dpop import make_proof, wants_nonce
from django_bff.exceptions import TokenServiceError, TokenServiceUnavailable
from django_bff.handoff import (
    CALLBACK_ATTR,
    LOGIN_REFUSAL_ATTR,
    PENDING_TOKEN_ATTR,
    hand_over,
    login_key,
    take_login_key,
)
from django_bff.tokens import UserToken

__all__ = ["BFFAuthenticationBackend", "PENDING_TOKEN_ATTR"]

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("django.security.django_bff")

_ENDPOINT_SETTINGS = {
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


class _ProviderUnavailable(SuspiciousOperation):
    """A login refused because the provider could not be reached (worth trying again later)."""


def _refused(error: TokenServiceError, message: str) -> SuspiciousOperation:
    """The refusal for ``error``: transient when the provider was unavailable."""
    kind = _ProviderUnavailable if isinstance(error, TokenServiceUnavailable) else SuspiciousOperation
    return kind(f"{message}: {error}")


class BFFAuthenticationBackend(OIDCAuthenticationBackend):  # type: ignore[misc]  # an untyped base (Any)
    """mozilla-django-oidc's backend, with the BFF's token handling."""

    _token_response: dict[str, Any] | None = None
    _token_requested_at: datetime | None = None
    #: DPoP: the key of this login (None without DPoP).
    _dpop_jwk: str | None = None

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        value = getattr(settings, attr, None)
        if value is None and attr in _ENDPOINT_SETTINGS and bff_settings.AUTHORITY:
            # Resolved from discovery when used, not here: Django builds this backend
            # for every request of a logged-in user, which must not need the provider.
            return ""
        if value is None and attr == "OIDC_OP_USER_ENDPOINT":
            return None  # optional here: claims then come from the identity token
        if value is None:
            return OIDCAuthenticationBackend.get_settings(attr, *args)
        return value

    def _endpoint(self, explicit: str | None, name: str) -> str:
        endpoint = explicit or get_endpoint(name)
        if not endpoint:
            raise SuspiciousOperation(f"the provider's {name} is unknown")
        return endpoint

    # --- HTTP through the back-channel --------------------------------------------------
    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            endpoint = self._endpoint(self.OIDC_OP_TOKEN_ENDPOINT, "token_endpoint")
            self._dpop_jwk = self._login_dpop_key()
            self._token_requested_at = clock.now()  # expires_in counts from about then
            response = oauth.token_request(dict(payload), endpoint=endpoint, dpop_jwk=self._dpop_jwk)
        except TokenServiceError as e:
            # Becomes a failed login, logged once by authenticate() or the callback view.
            raise _refused(e, "the code exchange failed") from None
        self._token_response = response
        return response

    def _login_dpop_key(self) -> str | None:
        """The key ``/bff/login`` made for this login; a new one when it started elsewhere; None without DPoP."""
        if bff_settings.DPOP is None:
            return None
        request: HttpRequest | None = getattr(self, "request", None)
        key = take_login_key(request, request.GET.get("state")) if request is not None else None
        if key is None:
            logger.info("DPoP: this login did not start at /bff/login; its code is not bound (no dpop_jkt)")
            key = login_key()
        return key

    def retrieve_matching_jwk(self, token: str) -> jwt.PyJWK:
        header = jwt.get_unverified_header(token)
        try:
            jwks_uri = self._endpoint(self.OIDC_OP_JWKS_ENDPOINT, "jwks_uri")
            return get_signing_key(jwks_uri, header.get("kid"), str(header.get("alg")))
        except TokenServiceError as e:
            raise _refused(e, "no signing key for the identity token") from None
        except LookupError as e:
            raise SuspiciousOperation("no signing key for the identity token") from e

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.OIDC_OP_USER_ENDPOINT:
            return dict(payload)
        try:
            response = self._userinfo(access_token)
        except TokenServiceError as e:
            raise _refused(e, "userinfo request failed") from None
        logger.info("userinfo GET %s -> %s", self.OIDC_OP_USER_ENDPOINT, response.status_code)
        if response.status_code != 200:
            raise SuspiciousOperation(f"userinfo answered HTTP {response.status_code}")
        if response.headers.get("content-type", "").lower().startswith("application/jwt"):
            claims: dict[str, Any] = self.verify_token(response.text)
            return claims
        try:
            data = response.json()
        except ValueError:
            raise SuspiciousOperation("userinfo did not answer JSON") from None
        if not isinstance(data, dict) or data.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo sub does not match the identity token")
        return data

    def _userinfo(self, access_token: str) -> Any:
        url = self.OIDC_OP_USER_ENDPOINT
        token_type = str((self._token_response or {}).get("token_type") or "Bearer")
        if not self._dpop_jwk or token_type.lower() != "dpop":
            return fetch("GET", url, what="userinfo", headers={"Authorization": f"Bearer {access_token}"})
        nonce = None
        for _attempt in range(2):  # once more with the nonce the provider asks for (RFC 9449 section 9)
            proof = make_proof(self._dpop_jwk, "GET", url, access_token=access_token, nonce=nonce)
            headers = {"Authorization": f"DPoP {access_token}", "DPoP": proof}
            response = fetch("GET", url, what="userinfo", headers=headers)
            nonce = wants_nonce(response.status_code, response.headers)
            if nonce is None:
                break
        return response

    # --- identity token validation --------------------------------------------------------
    def _verify_jws(self, payload: str, key: Any) -> dict[str, Any]:
        header = jwt.get_unverified_header(payload)
        alg = header.get("alg")
        if alg != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation("the identity token's alg does not match OIDC_RP_SIGN_ALGO")
        issuer = bff_settings.AUTHORITY
        try:
            claims: dict[str, Any] = jwt.decode(
                payload,
                key,
                algorithms=[alg],
                audience=self.OIDC_RP_CLIENT_ID,
                options={"require": ["exp", "iat", "sub", "iss"]},
                leeway=30,
            )
        except jwt.PyJWTError as e:
            raise SuspiciousOperation(f"identity token rejected: {type(e).__name__}") from None
        # Compared without a trailing slash on either side: some providers (Auth0)
        # put one in their issuer, and users write AUTHORITY either way.
        if issuer and str(claims["iss"]).rstrip("/") != issuer.rstrip("/"):
            raise SuspiciousOperation("identity token rejected: InvalidIssuerError")
        audiences = claims.get("aud")
        if isinstance(audiences, list) and len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("identity token has several audiences and another azp")
        return claims

    # --- keep the token response ---------------------------------------------------------
    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        self._token_response = None
        self._dpop_jwk = None
        try:
            user = super().authenticate(request, **kwargs)
        except SuspiciousOperation as e:
            # A failed login, not a server error. Under django_bff's callback view the view
            # logs it (one line per failed callback) and tells the browser app; else here.
            if request is not None and getattr(request, CALLBACK_ATTR, False):
                setattr(request, LOGIN_REFUSAL_ATTR, (str(e), isinstance(e, _ProviderUnavailable)))
            else:
                security_logger.warning("OIDC login refused: %s", e)
            return None
        if user is None or request is None or self._token_response is None:
            return user
        token = UserToken.from_token_response(
            self._token_response, client_id=self.OIDC_RP_CLIENT_ID, now=self._token_requested_at
        )
        if self._dpop_jwk is not None:
            token = dataclasses.replace(token, dpop_jwk=self._dpop_jwk)
        hand_over(request, user, self._token_response, token)
        return user
