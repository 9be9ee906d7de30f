"""The check of ``settings.BFF`` itself: its keys, and each plain value against its declaration.

In the data flow: the first concern of :mod:`django_bff.checks`. Each setting
of :mod:`django_bff.conf.declared` checks its own value (numbers, flags, URLs,
TLS files, keys, names...), under the check id its declaration gives; the
settings that a concern checks whole (backends, ``REMOTE_APIS``, ``CLIENTS``,
``ACCESS_TOKEN_RETRIEVERS``) are left to it. Then the one rule across
settings: the refresh lock must outlive a token request (``W004``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning

from django_bff.checks.messages import bff_dict, to_messages
from django_bff.conf.declared import DEFAULTS, REMOVED_SETTINGS, SETTINGS, BFFSettings

__all__ = ["check_values"]


def check_values(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """``settings.BFF`` is a dict of known keys, each with a value its declaration accepts."""
    user = bff_dict()
    if user is None:
        return [Error("settings.BFF must be a dict.", hint="Write BFF = {...} in settings.", id="django_bff.E001")]
    messages = _check_keys(user)
    problems = [p for s in SETTINGS if not s.own_concern for p in s.check(user.get(s.name, s.default))]
    messages += to_messages(problems)
    if not problems:
        messages += _check_lock(user)
    return messages


def _check_keys(user: dict[str, object]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key in user:
        if key in REMOVED_SETTINGS:
            hint = f"See CHANGELOG.md: {REMOVED_SETTINGS[key]}"
            messages.append(Error(f'BFF["{key}"] was removed.', hint=hint, id="django_bff.E003"))
        elif key not in DEFAULTS:
            hint = "Check the spelling; see docs/settings."
            messages.append(Error(f'BFF["{key}"] is not a django_bff setting.', hint=hint, id="django_bff.E002"))
    return messages


def _check_lock(user: dict[str, object]) -> list[CheckMessage]:
    lock = BFFSettings.REFRESH_LOCK_TIMEOUT.value_or_default(user)
    call = BFFSettings.BACKCHANNEL_CONNECT_TIMEOUT.value_or_default(user)
    call += BFFSettings.BACKCHANNEL_READ_TIMEOUT.value_or_default(user)
    if lock > call:
        return []
    return [
        Warning(
            "The refresh lock can expire during a token request.",
            hint='Make BFF["REFRESH_LOCK_TIMEOUT"] longer than the two BACKCHANNEL timeouts (their sum '
            "is a token request's deadline).",
            id="django_bff.W004",
        )
    ]
