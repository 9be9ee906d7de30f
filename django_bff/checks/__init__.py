"""System checks for ``settings.BFF`` and the settings django_bff relies on, one function per concern.

In the data flow: :meth:`django_bff.apps.DjangoBFFConfig.ready` registers each
concern of :data:`CONCERNS` with its tag (``security`` for the security
concern alone); ``manage.py check`` runs them. A check reads settings and
makes what it needs apart from the runtime's copies (no side effects), and
reports a bad value by id, never with a traceback. The values come from the
declarations of :mod:`django_bff.conf.declared`; the structured settings from
the parsers the runtime uses. Every id is listed, with its meaning and fix, in
``docs/checks.rst``; ids are never reused.

The concerns, each a module: :mod:`~django_bff.checks.values`,
:mod:`~django_bff.checks.storage`, :mod:`~django_bff.checks.caches`,
:mod:`~django_bff.checks.oidc`, :mod:`~django_bff.checks.security`,
:mod:`~django_bff.checks.routes`, :mod:`~django_bff.checks.clients`,
:mod:`~django_bff.checks.sessions` and :mod:`~django_bff.checks.deploy`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.apps import AppConfig
from django.core import checks
from django.core.checks import CheckMessage

from django_bff.checks.caches import check_caches
from django_bff.checks.clients import check_clients
from django_bff.checks.deploy import check_deploy
from django_bff.checks.messages import TAG, bff_dict
from django_bff.checks.oidc import check_oidc_client
from django_bff.checks.routes import check_routes
from django_bff.checks.security import check_security
from django_bff.checks.sessions import check_sessions
from django_bff.checks.storage import check_token_storage
from django_bff.checks.values import check_values

__all__ = ["check_settings", "check_deploy", "register", "CONCERNS"]

Check = Callable[..., list[CheckMessage]]

#: Each concern's check and its tag, in the order ``check_settings`` runs them.
CONCERNS: tuple[tuple[Check, str], ...] = (
    (check_values, TAG),
    (check_token_storage, TAG),
    (check_caches, checks.Tags.caches),
    (check_oidc_client, TAG),
    (check_routes, checks.Tags.urls),
    (check_clients, TAG),
    (check_sessions, TAG),
    (check_security, checks.Tags.security),
)


def register() -> None:
    """Register every concern with its tag, and the deployment check (``ready()`` calls it)."""
    for check, tag in CONCERNS:
        checks.register(check, tag)
    checks.register(check_deploy, checks.Tags.security, deploy=True)


def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """Every concern's messages at once (what ``manage.py check`` reports for django_bff, less ``--deploy``)."""
    if bff_dict() is None:
        return check_values(app_configs)
    return [message for check, _ in CONCERNS for message in check(app_configs)]
