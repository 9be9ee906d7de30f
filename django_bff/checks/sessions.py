"""The check of server-side sessions: ``BFF["SESSION_INDEX"]`` made, and what the logouts need of the provider.

In the data flow: a concern of :mod:`django_bff.checks`. The session index is
made the way the runtime makes it, apart from the runtime's copy (``E034``);
back-channel logout checks the logout token's ``iss`` against
``BFF["AUTHORITY"]`` (``W016`` when it is not set). Ending a session revokes
its refresh token at the revocation endpoint (``W020`` when none can be
known) and ``/bff/logout`` ends the provider's session at its end-session
endpoint (``W021``). This check reads the configuration only: with
``BFF["AUTHORITY"]`` set, the endpoints may come from the discovery document,
which is read by ``manage.py check --deploy`` (:mod:`django_bff.checks.deploy`)
and never at every ``runserver``; at run time a WARNING names a missing one the
first time it is missed (:func:`django_bff.backchannel.note_missing_endpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning

from django_bff.checks.messages import bff_dict
from django_bff.conf.declared import BFFSettings

__all__ = ["check_sessions", "no_revocation_endpoint", "no_end_session_endpoint"]


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
    authority = BFFSettings.AUTHORITY.value_or_default(user)
    if not authority:
        messages.append(
            Warning(
                'Back-channel logout needs BFF["AUTHORITY"] to check "iss".',
                hint="Set it to the provider's issuer; until then /bff/backchannel answers 400.",
                id="django_bff.W016",
            )
        )
    revoking = BFFSettings.REVOKE_REFRESH_TOKEN_ON_LOGOUT.value_or_default(user)
    if revoking is True and not authority and not BFFSettings.REVOCATION_ENDPOINT.value_or_default(user):
        messages.append(
            no_revocation_endpoint(
                'Set BFF["REVOCATION_ENDPOINT"] (or BFF["AUTHORITY"] if its discovery document names one)'
            )
        )
    if not authority:
        messages.append(no_end_session_endpoint('Set BFF["AUTHORITY"]: its discovery document names the endpoint.'))
    return messages


def no_revocation_endpoint(fix: str) -> Warning:
    """``W020``, with ``fix`` first in the hint."""
    return Warning(
        "Logout cannot revoke refresh tokens: no revocation endpoint.",
        hint=f'{fix}, or set BFF["REVOKE_REFRESH_TOKEN_ON_LOGOUT"] = False.',
        id="django_bff.W020",
    )


def no_end_session_endpoint(fix: str) -> Warning:
    """``W021``, with ``fix`` in the hint."""
    return Warning(
        "Logout cannot end the provider's session: no end-session endpoint.",
        hint=f"{fix} Without it /bff/logout ends the session here only.",
        id="django_bff.W021",
    )
