"""The deployment check (``manage.py check --deploy``): what must not reach production.

In the data flow: the concern of :mod:`django_bff.checks` registered with
``deploy=True`` and tagged ``security``: ``/bff/diagnostics`` turned on
outside ``DEBUG`` (``E040``); what logout cannot do at the provider when
only the discovery document can say (``W020``, ``W021``); and DPoP with an
algorithm the discovery document's ``dpop_signing_alg_values_supported``
leaves out (``E055``: the provider would refuse every proof).

The discovery document is read here only, never by the checks that run at
every ``runserver`` and ``migrate``: with ``BFF["AUTHORITY"]`` set and no
explicit ``BFF["REVOCATION_ENDPOINT"]``, one GET of
``{AUTHORITY}/.well-known/openid-configuration``, through a back-channel
session made apart from the runtime's (its TLS settings, its timeouts) and
closed, its answer cached nowhere. A provider that cannot be reached, or an
answer that is not a discovery document, reports nothing: the runtime logs a
WARNING the first time an endpoint is missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error

from django_bff.checks.messages import bff_dict
from django_bff.checks.sessions import no_end_session_endpoint, no_revocation_endpoint
from django_bff.conf.declared import BFFSettings

__all__ = ["check_deploy"]


def check_deploy(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """``manage.py check --deploy``: what must not reach production."""
    user = bff_dict()
    if user is None:
        return []
    messages: list[CheckMessage] = []
    if user.get("DIAGNOSTICS") is True and not settings.DEBUG:
        messages.append(
            Error(
                "/bff/diagnostics is on in a deployment.",
                hint='It shows what the BFF holds for a session: set BFF["DIAGNOSTICS"] = None.',
                id="django_bff.E040",
            )
        )
    return messages + _check_discovery(user)


def _check_discovery(user: dict[str, object]) -> list[CheckMessage]:
    authority = BFFSettings.AUTHORITY.value_or_default(user)
    if not authority:
        return []  # the configuration check says it (W020, W021)
    document = _discovery_document(str(authority))
    if document is None:
        return []
    return _check_discovered_endpoints(user, document) + _check_dpop_algorithm(user, document)


def _check_dpop_algorithm(user: dict[str, object], document: dict[str, Any]) -> list[CheckMessage]:
    """``E055``: the provider lists the DPoP algorithms it takes, and not ours."""
    options = BFFSettings.DPOP.value_or_default(user)
    supported = document.get("dpop_signing_alg_values_supported")
    if options is None or not isinstance(supported, list) or options.algorithm in supported:
        return []
    hint = f'It takes {", ".join(map(str, supported))}: set BFF["DPOP"] = {{"ALGORITHM": ...}} to one of them.'
    return [Error('The provider does not take BFF["DPOP"]\'s algorithm.', hint=hint[:300], id="django_bff.E055")]


def _check_discovered_endpoints(user: dict[str, object], document: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    revoking = BFFSettings.REVOKE_REFRESH_TOKEN_ON_LOGOUT.value_or_default(user) is True
    if (
        revoking
        and not BFFSettings.REVOCATION_ENDPOINT.value_or_default(user)
        and not document.get("revocation_endpoint")
    ):
        messages.append(
            no_revocation_endpoint(
                'The discovery document names no revocation_endpoint: set BFF["REVOCATION_ENDPOINT"]'
            )
        )
    if not document.get("end_session_endpoint"):
        messages.append(no_end_session_endpoint("The discovery document names no end_session_endpoint."))
    return messages


def _discovery_document(authority: str) -> dict[str, Any] | None:
    """The provider's discovery document, read apart from the runtime's caches; None when it cannot be."""
    import requests  # here: django.setup() (which imports the checks) must not load requests and urllib3

    from django_bff.conf import bff_settings

    try:
        session = bff_settings.BACKCHANNEL_SESSION()
    except Exception:  # a bad BACKCHANNEL_SESSION is E007's; a check never raises
        return None
    if not isinstance(session, requests.Session):
        return None
    try:
        url = authority.rstrip("/") + "/.well-known/openid-configuration"
        response = session.get(url, timeout=bff_settings.backchannel_timeout, allow_redirects=False)
        document = response.json() if response.status_code == 200 else None
    except Exception:  # unreachable, not JSON, ...: the runtime will say what it misses
        return None
    finally:
        session.close()
    return document if isinstance(document, dict) else None
