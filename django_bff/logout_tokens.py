"""Validation of back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0, section 2.6).

In the data flow: ``/bff/backchannel`` (:mod:`django_bff.views`) validates here,
with the provider's JWKS from :mod:`django_bff.backchannel`, then ends the
matching sessions (:mod:`django_bff.sessions`).

:func:`validate_logout_token` returns the claims of a token that passes every
rule, and raises :class:`~django_bff.exceptions.InvalidLogoutToken` (naming the
rule, never the token) otherwise:

1. a JWS whose ``alg`` is in ``BFF["BACKCHANNEL_LOGOUT_ALGORITHMS"]`` (never
   ``none``, never an HMAC algorithm), with no ``crit`` header, and a ``typ``,
   when present, of ``logout+jwt``;
2. signed by a key of the provider's JWKS (``kid`` and ``alg`` must match);
3. ``iss`` is ``BFF["AUTHORITY"]``; ``aud`` contains our client id
   (``OIDC_RP_CLIENT_ID``); ``iat`` is present, not in the future and not older
   than ``BFF["BACKCHANNEL_LOGOUT_MAX_AGE"]``; ``exp``, when present, has not
   passed (30 s leeway on clocks);
4. ``events`` is an object with the member
   ``http://schemas.openid.net/event/backchannel-logout`` whose value is an
   object;
5. ``sub`` and/or ``sid`` are present (non-empty strings); ``nonce`` is absent;
6. ``jti`` is present and has not been seen before: it is remembered in
   ``BFF["CACHE"]`` (shared by every server) for as long as the token is valid.
   :func:`remember_jti` does that last step, once everything else has passed.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jwt
from django.conf import settings
from django.core.cache import caches

from django_bff.backchannel import get_endpoint, get_signing_key
from django_bff.clock import clock
from django_bff.conf import bff_settings
from django_bff.exceptions import InvalidLogoutToken, TokenServiceError

__all__ = ["BACKCHANNEL_LOGOUT_EVENT", "validate_logout_token", "remember_jti", "forget_jti"]

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LEEWAY = 30
#: Longer than any real logout token; refuses huge bodies before any parsing.
MAX_TOKEN_LENGTH = 16 * 1024
_TYPES = frozenset({"logout+jwt", "application/logout+jwt"})


def _allowed_algorithms() -> list[str]:
    return [
        str(a)
        for a in bff_settings.BACKCHANNEL_LOGOUT_ALGORITHMS
        if str(a).lower() != "none" and not str(a).upper().startswith("HS")
    ]


def _header(token: str) -> dict[str, Any]:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidLogoutToken("logout_token is missing or too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidLogoutToken("logout_token is not a JWS") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in _allowed_algorithms():
        raise InvalidLogoutToken("alg is not allowed")
    if "crit" in header:
        raise InvalidLogoutToken("crit header parameters are not supported")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _TYPES):
        raise InvalidLogoutToken("typ is not logout+jwt")
    return header


def validate_logout_token(token: str) -> dict[str, Any]:
    """The claims of ``token``, a back-channel logout token that passes rules 1 to 5 (see above)."""
    header = _header(token)
    alg = str(header["alg"])
    issuer = bff_settings.AUTHORITY
    if not issuer:
        raise InvalidLogoutToken('BFF["AUTHORITY"] is not set: the issuer cannot be checked')
    try:
        jwks_uri = get_endpoint("jwks_uri")
        if not jwks_uri:
            raise InvalidLogoutToken("the provider's jwks_uri is unknown")
        key = get_signing_key(jwks_uri, header.get("kid"), alg)
    except LookupError:
        raise InvalidLogoutToken("no key of the provider's JWKS matches kid and alg") from None
    except TokenServiceError:
        raise InvalidLogoutToken("the provider's JWKS could not be read") from None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=str(getattr(settings, "OIDC_RP_CLIENT_ID", "")),
            options={"require": ["iss", "aud", "iat", "jti", "events"]},
            leeway=LEEWAY,
        )
    except jwt.PyJWTError as e:
        raise InvalidLogoutToken(f"rejected: {type(e).__name__}") from None
    if str(claims["iss"]).rstrip("/") != str(issuer).rstrip("/"):
        raise InvalidLogoutToken("iss is not the provider")
    now = clock.time()
    iat = claims["iat"]
    if not isinstance(iat, (int, float)) or isinstance(iat, bool):
        raise InvalidLogoutToken("iat is not a number")
    if iat > now + LEEWAY:
        raise InvalidLogoutToken("iat is in the future")
    if iat < now - bff_settings.BACKCHANNEL_LOGOUT_MAX_AGE - LEEWAY:
        raise InvalidLogoutToken("iat is too old")
    events = claims["events"]
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise InvalidLogoutToken("events has no back-channel logout event")
    sub, sid = claims.get("sub"), claims.get("sid")
    if sub is None and sid is None:
        raise InvalidLogoutToken("neither sub nor sid is present")
    for name, value in (("sub", sub), ("sid", sid)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
            raise InvalidLogoutToken(f"{name} is not a non-empty string")
    if "nonce" in claims:
        raise InvalidLogoutToken("a logout token must not contain a nonce")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise InvalidLogoutToken("jti is not a non-empty string")
    return claims


def _jti_key(claims: dict[str, Any]) -> str:
    digest = hashlib.sha256(f"{claims['iss']}\x00{claims['jti']}".encode()).hexdigest()
    return f"bff:logout-jti:{digest}"


def remember_jti(claims: dict[str, Any]) -> None:
    """Rule 6: record the token's ``jti``; :class:`InvalidLogoutToken` when it was seen before."""
    now = clock.time()
    until = float(claims["iat"]) + bff_settings.BACKCHANNEL_LOGOUT_MAX_AGE
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        until = max(until, float(exp))
    timeout = max(1, int(until - now) + 2 * LEEWAY)
    if not caches[bff_settings.CACHE].add(_jti_key(claims), 1, timeout):
        raise InvalidLogoutToken("jti was seen before (a replayed logout token)")


def forget_jti(claims: dict[str, Any]) -> None:
    """Undo :func:`remember_jti` (the logout failed, so the provider may send the token again)."""
    caches[bff_settings.CACHE].delete(_jti_key(claims))
