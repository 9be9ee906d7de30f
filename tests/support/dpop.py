"""DPoP against the real test identity provider: its DPoP clients, a login through ``/bff/login``, claims.

The provider (``tests/idp/server.mjs``) registers ``bff-dpop`` and
``bff-dpop-nonce`` with ``dpop_bound_access_tokens``; it demands a DPoP nonce
from the second only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from tests.support.login import CALLBACK

__all__ = ["DPOP_CLIENTS", "use_dpop_client", "start_login", "finish_login", "bff_login", "claims"]

#: client id -> secret, of the provider's clients that must send DPoP proofs.
DPOP_CLIENTS = {"bff-dpop": "bff-dpop-secret", "bff-dpop-nonce": "bff-dpop-nonce-secret"}


def use_dpop_client(settings: Any, client_id: str = "bff-dpop", dpop: object = True) -> None:
    """Log in as the provider's DPoP client ``client_id``, with ``BFF["DPOP"] = dpop``."""
    settings.OIDC_RP_CLIENT_ID = client_id
    settings.OIDC_RP_CLIENT_SECRET = DPOP_CLIENTS[client_id]
    settings.BFF = {**settings.BFF, "DPOP": dpop}


def start_login(client: Any) -> str:
    """``/bff/login``: the authorization request's URL (the login's key now waits in the session)."""
    start = client.get("/bff/login")
    assert start.status_code == 302, start
    return str(start["Location"])


def finish_login(client: Any, authorization_url: str, login: str = "alice") -> Any:
    """Log in at the provider and bring its answer to the callback; returns the callback's answer."""
    from tests.support.idp import complete_login

    final = complete_login(authorization_url, CALLBACK, login=login)
    return client.get(urlsplit(final).path + "?" + urlsplit(final).query)


def bff_login(client: Any, login: str = "alice") -> dict[str, str]:
    """The real login, started at ``/bff/login``; returns the authorization request's parameters."""
    url = start_login(client)
    back = finish_login(client, url, login)
    assert back.status_code == 302 and back["Location"] == "/", (back.status_code, back.get("Location"))
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def claims(access_token: str) -> dict[str, Any]:
    """A JWT access token's claims, unverified (the provider signed it; the test reads ``cnf``)."""
    decoded: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return decoded
