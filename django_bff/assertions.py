"""Client assertions: authenticating the BFF to the token service with a signed JWT.

In the data flow: beside the back-channel, at the bottom of the path to the
provider. :mod:`django_bff.oauth` asks the configured service for a fresh
assertion for each token-service request it sends.

Reference: "You can also supply client assertions to the token management
library" (Duende's ``IClientAssertionService``). Name a service in
``BFF["CLIENT_ASSERTION_SERVICE"]`` and every call the OIDC client makes to the
token service (the code exchange at login, refresh, revocation, client
credentials) carries a fresh ``client_assertion`` instead of the client secret;
a named client (``BFF["CLIENTS"]``) uses it with ``"AUTH_METHOD": "private_key_jwt"``.

The shipped :class:`PrivateKeyJwtAssertionService` implements RFC 7523
(``private_key_jwt``)::

    BFF = {
        "CLIENT_ASSERTION_SERVICE": {
            "BACKEND": "django_bff.assertions.PrivateKeyJwtAssertionService",
            "OPTIONS": {
                "KEY_FILE": "/run/secrets/bff-signing-key.pem",
                "KEY_ID": "2026-11",
                "ALGORITHM": "PS256",
            },
        },
    }
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from django_bff.clock import clock
from django_bff.conf import bff_settings, per_settings
from django_bff.conf.loading import make_backend
from django_bff.exceptions import BFFImproperlyConfigured

__all__ = [
    "ClientAssertion",
    "ClientAssertionService",
    "PrivateKeyJwtAssertionService",
    "get_assertion_service",
    "build_assertion_service",
    "JWT_BEARER",
]

#: RFC 7523 section 2.2.
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGORITHMS = {"RS256": rsa.RSAPrivateKey, "PS256": rsa.RSAPrivateKey, "ES256": ec.EllipticCurvePrivateKey}


@dataclass(frozen=True)
class ClientAssertion:
    """What goes into the form: ``client_assertion_type`` and ``client_assertion``."""

    value: str = field(repr=False)
    type: str = JWT_BEARER


class ClientAssertionService:
    """Base class (reference: ``IClientAssertionService``).

    Subclasses must implement :meth:`get_client_assertion`; it is called for
    every token-service request, so every request (a retry too) gets a new one.
    """

    def get_client_assertion(self, client_id: str, token_endpoint: str, issuer: str | None) -> ClientAssertion:
        raise NotImplementedError("subclasses of ClientAssertionService must provide a get_client_assertion() method")


def _load_key(pem: bytes | str, password: str | None) -> Any:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return serialization.load_pem_private_key(data, password.encode() if password else None)
    except (ValueError, TypeError) as e:
        raise BFFImproperlyConfigured(f"the client assertion key is not a readable PEM private key: {e}") from None


class PrivateKeyJwtAssertionService(ClientAssertionService):
    """RFC 7523 ``private_key_jwt``: ``iss`` = ``sub`` = the client id, a unique ``jti``, a short ``exp``.

    OPTIONS (one key source):

    * ``KEY_FILE``: path of a PEM private key; ``KEY_ENV``: name of an environment
      variable holding one; ``KEY``: the PEM itself (from your secrets, not your code);
    * ``KEY_PASSWORD``: its password, if any;
    * ``KEY_ID``: the ``kid`` header (the provider finds the public key with it);
    * ``ALGORITHM``: ``RS256`` (default), ``PS256`` or ``ES256``;
    * ``AUDIENCE``: ``"token_endpoint"`` (default) or ``"issuer"``;
    * ``LIFETIME``: seconds the assertion is valid (default 60).

    For key rotation, publish the new public key at the provider first, then
    switch ``KEY_*``/``KEY_ID`` here; :meth:`public_jwk` gives the JWK to register.
    """

    def __init__(
        self,
        *,
        KEY_FILE: str | None = None,  # noqa: N803
        KEY_ENV: str | None = None,  # noqa: N803
        KEY: str | None = None,  # noqa: N803
        KEY_PASSWORD: str | None = None,  # noqa: N803
        KEY_ID: str | None = None,  # noqa: N803
        ALGORITHM: str = "RS256",  # noqa: N803
        AUDIENCE: str = "token_endpoint",  # noqa: N803
        LIFETIME: int = 60,  # noqa: N803
    ) -> None:
        sources = [s for s in (KEY_FILE, KEY_ENV, KEY) if s]
        if len(sources) != 1:
            raise BFFImproperlyConfigured("give exactly one of KEY_FILE, KEY_ENV, KEY")
        if ALGORITHM not in _ALGORITHMS:
            raise BFFImproperlyConfigured(f"unsupported ALGORITHM {ALGORITHM!r}: use RS256, PS256 or ES256")
        if AUDIENCE not in ("token_endpoint", "issuer"):
            raise BFFImproperlyConfigured('AUDIENCE must be "token_endpoint" or "issuer"')
        if isinstance(LIFETIME, bool) or not isinstance(LIFETIME, int) or not 1 <= LIFETIME <= 600:
            raise BFFImproperlyConfigured("LIFETIME must be an integer number of seconds from 1 to 600")
        if KEY_FILE:
            try:
                with open(KEY_FILE, "rb") as f:
                    pem: bytes | str = f.read()
            except OSError as e:
                raise BFFImproperlyConfigured(f"cannot read the client assertion key file: {e.strerror}") from None
        elif KEY_ENV:
            pem = os.environ.get(KEY_ENV, "")
            if not pem:
                raise BFFImproperlyConfigured(f"the environment variable {KEY_ENV} holding the key is empty")
        else:
            pem = str(KEY)
        self.key = _load_key(pem, KEY_PASSWORD)
        if not isinstance(self.key, _ALGORITHMS[ALGORITHM]):
            raise BFFImproperlyConfigured(f"the key does not fit ALGORITHM {ALGORITHM}")
        if isinstance(self.key, ec.EllipticCurvePrivateKey) and not isinstance(self.key.curve, ec.SECP256R1):
            raise BFFImproperlyConfigured("ES256 needs a P-256 key")
        if isinstance(self.key, rsa.RSAPrivateKey) and self.key.key_size < 2048:
            raise BFFImproperlyConfigured("an RSA key must have at least 2048 bits")
        self.key_id = KEY_ID
        self.algorithm = ALGORITHM
        self.audience = AUDIENCE
        self.lifetime = LIFETIME

    def get_client_assertion(self, client_id: str, token_endpoint: str, issuer: str | None) -> ClientAssertion:
        now = int(clock.time())
        audience = issuer if self.audience == "issuer" and issuer else token_endpoint
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(24),
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
        }
        headers = {"kid": self.key_id} if self.key_id else None
        return ClientAssertion(jwt.encode(claims, self.key, algorithm=self.algorithm, headers=headers))

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK, to register at the provider."""
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.key.public_key()))
        jwk.pop("key_ops", None)  # RFC 7517 section 4.3: not together with "use"
        jwk.update(use="sig", alg=self.algorithm, **({"kid": self.key_id} if self.key_id else {}))
        return jwk


def build_assertion_service(config: Any, where: str = 'BFF["CLIENT_ASSERTION_SERVICE"]') -> ClientAssertionService:
    """A service from a dotted path or ``{"BACKEND": ..., "OPTIONS": {...}}``.

    Made by the one loader of dotted paths, :func:`~django_bff.conf.loading.make_backend`.
    """
    return make_backend(config, ClientAssertionService, where, path_alone=True)


def get_assertion_service(client: str | None = None) -> ClientAssertionService | None:
    """The assertion service of ``client`` (its ``ASSERTION_SERVICE`` in ``BFF["CLIENTS"]``),
    else ``BFF["CLIENT_ASSERTION_SERVICE"]``; None when neither is set. Made once per settings."""
    clients = bff_settings.CLIENTS
    entry = clients.get(client) if client is not None else None
    if isinstance(entry, dict) and entry.get("ASSERTION_SERVICE") is not None:
        return _own_service(client)
    return _shared_service()


@per_settings
def _shared_service() -> ClientAssertionService | None:
    config = bff_settings.CLIENT_ASSERTION_SERVICE
    return None if config is None else build_assertion_service(config)


@per_settings
def _own_service(client: str | None) -> ClientAssertionService:
    entry = bff_settings.CLIENTS[str(client)]
    assert isinstance(entry, dict)  # get_assertion_service() looked
    return build_assertion_service(entry["ASSERTION_SERVICE"], f'BFF["CLIENTS"][{client!r}]["ASSERTION_SERVICE"]')
