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
                "AUTH_METHOD": "client_secret_post",  # or client_secret_basic (default)
                "ISSUER": "https://idp.example.com",  # or "TOKEN_ENDPOINT": "https://..."
                "SCOPE": "billing.read",
                "RESOURCE": "https://billing.example.com",
                "DPOP": True,  # DPoP-bound tokens (docs/dpop); default False
            },
        },
    }

``"default"`` is the OIDC client itself (mozilla-django-oidc's client id and
secret, the provider's token endpoint) unless ``CLIENTS`` defines it. A client
with neither ``ISSUER`` nor ``TOKEN_ENDPOINT`` uses the OIDC provider's token
endpoint. The OIDC client uses DPoP when ``BFF["DPOP"]`` is on; a named client
when its ``"DPOP"`` is ``True`` (:func:`dpop_options`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from django_bff.backchannel import get_discovery_document, get_endpoint
from django_bff.conf import bff_settings, per_settings
from django_bff.conf.kinds import is_http_url
from django_bff.conf.problems import Parsed, Problem
from django_bff.conf.references import DPoPOptions
from django_bff.exceptions import BFFImproperlyConfigured

__all__ = [
    "ClientConfig",
    "get_client",
    "client_names",
    "parse_clients",
    "AUTH_METHODS",
    "SECRET_METHODS",
    "CLIENT_KEYS",
    "dpop_options",
]

#: The client authentication methods this release can send.
AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth"})
#: The methods that authenticate with the client secret.
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
CLIENT_KEYS = frozenset(
    {
        "CLIENT_ID",
        "CLIENT_SECRET",
        "AUTH_METHOD",
        "ISSUER",
        "TOKEN_ENDPOINT",
        "SCOPE",
        "RESOURCE",
        "ASSERTION_SERVICE",
        "DPOP",
    }
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
    #: True: its token requests carry DPoP proofs and its tokens are bound (RFC 9449).
    dpop: bool = False

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
        dpop=bff_settings.DPOP is not None,
    )


_HINT = 'BFF["CLIENTS"] = {"name": {"CLIENT_ID": ..., "CLIENT_SECRET": ..., ...}}; see docs/clients.'
#: The problems after which a client cannot be made at all (the others are reported, the client still made).
_FATAL = frozenset({"django_bff.E049", "django_bff.E026"})


def parse_clients(user: Mapping[str, object]) -> Parsed[ClientConfig]:
    """``user["CLIENTS"]`` (``settings.BFF``) parsed: the clients that can be made, and every problem.

    The system checks report every problem; :func:`get_client` raises a
    client's first problem only when the client cannot be made (no
    ``CLIENT_ID``, an unknown ``AUTH_METHOD``).
    """
    clients = user.get("CLIENTS", {})
    if not isinstance(clients, Mapping):
        return Parsed.of([], [Problem("django_bff.E025", 'BFF["CLIENTS"] must be a dict of clients.', _HINT)])
    service = user.get("CLIENT_ASSERTION_SERVICE")
    cert = user.get("BACKCHANNEL_CLIENT_CERT")
    made: list[ClientConfig] = []
    problems: list[Problem] = []
    for name, entry in clients.items():
        found = _problems(str(name), entry, service is not None, bool(cert))
        problems += found
        if isinstance(entry, dict) and not _FATAL & {p.id for p in found}:
            made.append(_client(str(name), entry))
    return Parsed.of(made, problems)


def _problems(name: str, entry: object, has_service: bool, has_cert: bool) -> list[Problem]:
    """The problems of the client ``name``: each message is short and the same for every client, its hint names it."""
    where = 'BFF["CLIENTS"]'
    if (
        not isinstance(entry, dict)
        or not entry.get("CLIENT_ID")
        or set(entry) - CLIENT_KEYS
        or not isinstance(entry.get("DPOP", False), bool)
    ):
        keys = ", ".join(sorted(CLIENT_KEYS))
        hint = f"{name!r} needs a CLIENT_ID, and no key but {keys} (DPOP: True or False)."
        return [Problem("django_bff.E049", f"{where}: a client is malformed.", hint)]
    problems: list[Problem] = []
    method = entry.get("AUTH_METHOD", "client_secret_basic")
    if method not in AUTH_METHODS:
        hint = f"{name!r} has {method!r}; use one of: " + ", ".join(sorted(AUTH_METHODS)) + "."
        problems.append(Problem("django_bff.E026", f"{where}: unknown AUTH_METHOD.", hint))
    elif method == "private_key_jwt" and not has_service and entry.get("ASSERTION_SERVICE") is None:
        hint = f'{name!r}: set BFF["CLIENT_ASSERTION_SERVICE"] or its ASSERTION_SERVICE (docs/client-assertions).'
        problems.append(Problem("django_bff.E029", f"{where}: private_key_jwt needs an assertion service.", hint))
    elif method == "tls_client_auth" and not has_cert:
        hint = f'{name!r}: set BFF["BACKCHANNEL_CLIENT_CERT"] (docs/clients).'
        problems.append(Problem("django_bff.E031", f"{where}: tls_client_auth needs a client certificate.", hint))
    elif method in SECRET_METHODS and not entry.get("CLIENT_SECRET"):
        hint = f"{name!r}: set its CLIENT_SECRET."
        problems.append(Problem("django_bff.E027", f"{where}: {method} needs a CLIENT_SECRET.", hint))
    for key in ("ISSUER", "TOKEN_ENDPOINT"):
        value = entry.get(key)
        if value is not None and not is_http_url(value):
            hint = f"{name!r} has {value!r}."
            problems.append(Problem("django_bff.E050", f"{where}: {key} must be an absolute http(s) URL.", hint))
    return problems


def _client(name: str, entry: dict[str, Any]) -> ClientConfig:
    return ClientConfig(
        name=name,
        client_id=str(entry["CLIENT_ID"]),
        client_secret=entry.get("CLIENT_SECRET"),
        auth_method=entry.get("AUTH_METHOD", "client_secret_basic"),
        issuer=entry.get("ISSUER"),
        token_endpoint=entry.get("TOKEN_ENDPOINT"),
        scope=entry.get("SCOPE"),
        resource=entry.get("RESOURCE"),
        dpop=entry.get("DPOP", False) is True,
    )


@per_settings
def _named_clients() -> tuple[dict[str, ClientConfig], dict[str, Problem]]:
    """The clients of ``BFF["CLIENTS"]`` by name, and the first fatal problem of each that cannot be made."""
    user = bff_settings.user_settings
    entries = user.get("CLIENTS", {})
    clients: dict[str, ClientConfig] = {}
    broken: dict[str, Problem] = {}
    has_service, has_cert = user.get("CLIENT_ASSERTION_SERVICE") is not None, bool(user.get("BACKCHANNEL_CLIENT_CERT"))
    for name, entry in entries.items() if isinstance(entries, Mapping) else ():
        fatal = [p for p in _problems(str(name), entry, has_service, has_cert) if p.id in _FATAL]
        if fatal:
            broken[str(name)] = fatal[0]
        elif isinstance(entry, dict):
            clients[str(name)] = _client(str(name), entry)
    return clients, broken


def get_client(name: str = "default") -> ClientConfig:
    """The client called ``name``; :class:`BFFImproperlyConfigured` when there is none."""
    clients, broken = _named_clients()
    if name in clients:
        return clients[name]
    if name in broken:
        raise broken[name].error()
    if name == "default":
        return _oidc_client()
    raise BFFImproperlyConfigured(f'unknown client {name!r}: add it to BFF["CLIENTS"]')


def client_names() -> set[str]:
    clients, broken = _named_clients()
    return {"default"} | set(clients) | set(broken)


def dpop_options(client: ClientConfig) -> DPoPOptions | None:
    """How ``client`` uses DPoP (``BFF["DPOP"]``'s options, else the defaults), or None when it does not."""
    if not client.dpop:
        return None
    return bff_settings.DPOP or DPoPOptions()
