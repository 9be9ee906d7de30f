"""The deployment check (``manage.py check --deploy``): what must not reach production.

In the data flow: the concern of :mod:`django_bff.checks` registered with
``deploy=True`` and tagged ``security``: ``/bff/diagnostics`` turned on
outside ``DEBUG`` (``E040``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error

from django_bff.checks.messages import bff_dict

__all__ = ["check_deploy"]


def check_deploy(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """``manage.py check --deploy``: what must not reach production."""
    user = bff_dict()
    if user is not None and user.get("DIAGNOSTICS") is True and not settings.DEBUG:
        return [
            Error(
                "/bff/diagnostics is on in a deployment.",
                hint='It shows what the BFF holds for a session: set BFF["DIAGNOSTICS"] = None.',
                id="django_bff.E040",
            )
        ]
    return []
