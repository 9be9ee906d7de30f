"""The check of the proxy's routes: ``BFF["REMOTE_APIS"]`` and ``BFF["ACCESS_TOKEN_RETRIEVERS"]``.

In the data flow: a concern of :mod:`django_bff.checks`, tagged ``urls``.
Both settings are parsed by the parsers the runtime uses
(:func:`django_bff.proxy.routes.parse_remote_apis`,
:func:`django_bff.retrievers.parse_access_token_retrievers`); every problem of
every entry is reported here, each with its own id, while ``django_bff.urls``
leaves the bad entries out instead of raising at import.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.core.checks import CheckMessage

from django_bff.checks.messages import bff_dict, to_messages

__all__ = ["check_routes"]


def check_routes(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """Every route and every retriever pattern can be made."""
    from django_bff.proxy.routes import parse_remote_apis
    from django_bff.retrievers import parse_access_token_retrievers

    user = bff_dict()
    if user is None:
        return []
    problems = parse_remote_apis(user).problems + parse_access_token_retrievers(user).problems
    return to_messages(problems)
