"""The check of server-side sessions: ``BFF["SESSION_INDEX"]`` made, and what back-channel logout needs.

In the data flow: a concern of :mod:`django_bff.checks`. The session index is
made the way the runtime makes it, apart from the runtime's copy (``E034``);
back-channel logout checks the logout token's ``iss`` against
``BFF["AUTHORITY"]`` (``W016`` when it is not set).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning

from django_bff.checks.messages import bff_dict
from django_bff.conf.declared import BFFSettings

__all__ = ["check_sessions"]


def check_sessions(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """The session index can be made; back-channel logout can check who sent a logout token."""
    from django_bff.conf import load_backend
    from django_bff.exceptions import BFFImproperlyConfigured
    from django_bff.sessions import SessionIndex

    user = bff_dict()
    if user is None:
        return []
    messages: list[CheckMessage] = []
    try:
        load_backend("SESSION_INDEX", SessionIndex, BFFImproperlyConfigured)
    except BFFImproperlyConfigured as e:
        messages.append(Error('BFF["SESSION_INDEX"] is not usable.', hint=str(e)[:300], id="django_bff.E034"))
    if not BFFSettings.AUTHORITY.value_or_default(user):
        messages.append(
            Warning(
                'Back-channel logout needs BFF["AUTHORITY"] to check "iss".',
                hint="Set it to the provider's issuer; until then /bff/backchannel answers 400.",
                id="django_bff.W016",
            )
        )
    return messages
