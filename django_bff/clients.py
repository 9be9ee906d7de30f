"""Named OAuth clients for the client-credentials grant (``BFF["CLIENTS"]``).

In the data flow: read by the token manager
(:mod:`django_bff.token_manager.client`) and :mod:`django_bff.oauth` when a
CLIENT route or :class:`~django_bff.http.ClientAccessTokenAuth` needs an
application token. No I/O.

::

    BFF = {
        "CLIENTS": {
            "billing": {
                "CLIENT_ID": "bff-billing",
                "CLIENT_SECRET": os.environ["BILLING_SECRET"],
                "AUTH_METHOD": "client_secret_post",     # or client_secret_basic (the default)
                "ISSUER": "https://idp.example.com",     # or "TOKEN_ENDPOINT": "https://.../token"
                "SCOPE": "billing.read",
                "RESOURCE": "https://billing.example.com",
            },
        },
    }

``"default"`` is the OIDC client itself (mozilla-django-oidc's client id and
secret, the provider's token endpoint) unless ``CLIENTS`` defines it. A client
with neither ``ISSUER`` nor ``TOKEN_ENDPOINT`` uses the OIDC provider's token
endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from django_bff.backchannel import get_discovery_document, get_endpoint
from django_bff.conf import bff_settings
from django_bff.exceptions import BFFImproperlyConfigured

__all__ = ["ClientConfig", "get_client", "client_names", "AUTH_METHODS", "SECRET_METHODS", "CLIENT_KEYS"]

#: The client authentication methods this release can send.
AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth"})
#: The methods that authenticate with the client secret.
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
CLIENT_KEYS = frozenset(
    {"CLIENT_ID", "CLIENT_SECRET", "AUTH_METHOD", "ISSUER", "TOKEN_ENDPOINT", "SCOPE", "RESOURCE", "ASSERTION_SERVICE"}
)


@dataclass(frozen=True)
class ClientConfig:
    name: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    auth_method: str = "client_secret_basic"
    issuer: str | None = None
    token_endpoint: str | None = None
    scope: str | None = None
    resource: str | None = None
    #: False for the OIDC client: its endpoint comes from OIDC_OP_TOKEN_ENDPOINT first.
    discover: bool = True

    def endpoint(self) -> str:
        """The token endpoint: explicit, else the issuer's discovery document, else the OIDC provider's."""
        if self.token_endpoint:
            return self.token_endpoint
        if self.issuer and self.discover:
            found = get_discovery_document(self.issuer).get("token_endpoint")
        else:
            found = get_endpoint("token_endpoint")
        if not found:
            raise BFFImproperlyConfigured(f"client {self.name!r}: no token endpoint is known")
        return str(found)


def _oidc_client() -> ClientConfig:
    client_id = getattr(settings, "OIDC_RP_CLIENT_ID", None)
    if not client_id:
        raise BFFImproperlyConfigured("OIDC_RP_CLIENT_ID is not set")
    basic = bool(getattr(settings, "OIDC_TOKEN_USE_BASIC_AUTH", False))
    method = "client_secret_basic" if basic else "client_secret_post"
    if bff_settings.CLIENT_ASSERTION_SERVICE is not None:
        method = "private_key_jwt"  # every call of the OIDC client carries an assertion
    return ClientConfig(
        name="default",
        client_id=str(client_id),
        client_secret=getattr(settings, "OIDC_RP_CLIENT_SECRET", None),
        auth_method=method,
        issuer=bff_settings.AUTHORITY,  # the audience of its assertions, when asked for
        discover=False,
    )


def get_client(name: str = "default") -> ClientConfig:
    """The client called ``name``; :class:`BFFImproperlyConfigured` when there is none."""
    clients: Any = bff_settings.CLIENTS
    if isinstance(clients, dict) and name in clients:
        entry = clients[name]
        if not isinstance(entry, dict) or not entry.get("CLIENT_ID"):
            raise BFFImproperlyConfigured(f'BFF["CLIENTS"][{name!r}] needs a CLIENT_ID')
        method = entry.get("AUTH_METHOD", "client_secret_basic")
        if method not in AUTH_METHODS:
            raise BFFImproperlyConfigured(f"client {name!r}: unknown AUTH_METHOD {method!r}")
        return ClientConfig(
            name=name,
            client_id=str(entry["CLIENT_ID"]),
            client_secret=entry.get("CLIENT_SECRET"),
            auth_method=method,
            issuer=entry.get("ISSUER"),
            token_endpoint=entry.get("TOKEN_ENDPOINT"),
            scope=entry.get("SCOPE"),
            resource=entry.get("RESOURCE"),
        )
    if name == "default":
        return _oidc_client()
    raise BFFImproperlyConfigured(f'unknown client {name!r}: add it to BFF["CLIENTS"]')


def client_names() -> set[str]:
    clients: Any = bff_settings.CLIENTS
    return {"default"} | (set(clients) if isinstance(clients, dict) else set())
