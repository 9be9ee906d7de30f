"""The check of the named clients (``BFF["CLIENTS"]``) and of the client assertion services.

In the data flow: a concern of :mod:`django_bff.checks`. The clients are
parsed by the parser the runtime uses (:func:`django_bff.clients.parse_clients`);
each assertion service (``BFF["CLIENT_ASSERTION_SERVICE"]`` and a client's own
``ASSERTION_SERVICE``) is made, which reads and parses its key, so that a bad
one fails at start-up (``E028``), apart from the runtime's copy.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error

from django_bff.checks.messages import bff_dict, to_messages

__all__ = ["check_clients"]


def check_clients(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """Every named client can authenticate, and every assertion service can be made."""
    from django_bff.clients import parse_clients

    user = bff_dict()
    if user is None:
        return []
    return to_messages(parse_clients(user).problems) + _check_assertions(user)


def _check_assertions(user: dict[str, object]) -> list[CheckMessage]:
    from django_bff.assertions import build_assertion_service
    from django_bff.exceptions import BFFImproperlyConfigured

    configs = [('BFF["CLIENT_ASSERTION_SERVICE"]', user.get("CLIENT_ASSERTION_SERVICE"))]
    clients = user.get("CLIENTS", {})
    if isinstance(clients, dict):
        for name, entry in clients.items():
            if isinstance(entry, dict) and entry.get("ASSERTION_SERVICE") is not None:
                configs.append((f'BFF["CLIENTS"][{name!r}]["ASSERTION_SERVICE"]', entry["ASSERTION_SERVICE"]))
    messages: list[CheckMessage] = []
    for where, config in configs:
        if config is None:
            continue
        try:
            build_assertion_service(config, where)  # reads and parses the key: a bad one fails at start-up
        except BFFImproperlyConfigured as e:
            messages.append(
                Error("A client assertion service is not usable.", hint=f"{where}: {e}"[:300], id="django_bff.E028")
            )
    return messages
