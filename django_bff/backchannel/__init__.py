"""The back-channel: every call django_bff makes to the token service.

In the data flow: the bottom of every path to the provider. The token manager
and the login ask :mod:`django_bff.oauth`, which sends through :func:`fetch`
here; the login and the logout-token validation
(:mod:`django_bff.logout_tokens`) read the provider's discovery document and
JWKS from here. The package holds :mod:`.session` (the session and the bounded
exchange) and :mod:`.discovery` (discovery and JWKS); every name imports from
``django_bff.backchannel``, and both log to ``django_bff.backchannel``.

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

from django_bff.backchannel.discovery import (
    clear_caches,
    get_discovery_document,
    get_endpoint,
    get_signing_key,
    note_missing_endpoint,
)
from django_bff.backchannel.session import (
    BackchannelResponse,
    BackchannelSession,
    default_session,
    fetch,
    get_backchannel_session,
)

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
