"""Every setting of ``settings.BFF``, declared once: name, default, type, validation, check id, doc line.

In the data flow: this is where a setting starts. :class:`BFFSettings`, whose
instance every module reads as ``bff_settings``, is made of the groups of
:mod:`django_bff.conf.token_groups` and :mod:`django_bff.conf.http_groups`;
each attribute is a kind of :class:`~django_bff.conf.setting.Setting`, so
``bff_settings.RETRY_AFTER`` is an ``int`` to mypy and its type is checked
when read. :data:`DEFAULTS`, the system checks of plain values
(:mod:`django_bff.checks.values`) and ``docs/settings.rst`` (held to the
declarations by ``tests/test_docs.py``: type, default, check ids and first
sentence of each section) all come from these declarations. A group's title
is its section in the settings page.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from django_bff.conf.http_groups import (
    LOGOUT_ALGORITHMS,
    Antiforgery,
    NamedClients,
    Proxy,
    RemoteAPIRoutes,
    SessionEndpoints,
)
from django_bff.conf.references import ImportString
from django_bff.conf.setting import Setting
from django_bff.conf.token_groups import TokenLifetime, TokenService, TokenStorage

__all__ = [
    "BFFSettings",
    "GROUPS",
    "SETTINGS",
    "DEFAULTS",
    "IMPORT_STRINGS",
    "REMOVED_SETTINGS",
    "LOGOUT_ALGORITHMS",
    "settings_of",
    "TokenStorage",
    "TokenLifetime",
    "TokenService",
    "RemoteAPIRoutes",
    "NamedClients",
    "SessionEndpoints",
    "Antiforgery",
    "Proxy",
]


#: The groups, in the order of the settings page; each title is a section, and a concern of the checks.
GROUPS: tuple[tuple[str, type], ...] = (
    ("Token storage", TokenStorage),
    ("Token lifetime management", TokenLifetime),
    ("Token service communication", TokenService),
    ("Remote API routes", RemoteAPIRoutes),
    ("Named clients and client assertions", NamedClients),
    ("Session endpoints and sessions", SessionEndpoints),
    ("Anti-forgery header", Antiforgery),
    ("The proxy", Proxy),
)


def settings_of(group: type) -> tuple[Setting[object], ...]:
    """The settings a group declares, in order."""
    return tuple(value for value in vars(group).values() if isinstance(value, Setting))


class BFFSettings(
    TokenStorage, TokenLifetime, TokenService, RemoteAPIRoutes, NamedClients, SessionEndpoints, Antiforgery, Proxy
):
    """``settings.BFF`` over the declared defaults: ``bff_settings.NAME`` is a setting's value, typed.

    A value is read, validated and kept on first use; :meth:`reload` forgets
    them all (Django's ``setting_changed`` for ``BFF`` calls it). A value the
    system checks refuse raises :class:`~django_bff.conf.problems.InvalidSetting`
    when read. Asking for a name that is not a setting raises :class:`AttributeError`.
    """

    @property
    def user_settings(self) -> Mapping[str, object]:
        """``settings.BFF`` (empty when it is not a dict: ``django_bff.E001``)."""
        value = getattr(settings, "BFF", {})
        return value if isinstance(value, dict) else {}

    def reload(self) -> None:
        """Forget the values read: the next read sees ``settings.BFF`` as it is now."""
        vars(self).clear()

    @property
    def refresh_before_expiration(self) -> float:
        return self.REFRESH_BEFORE_EXPIRATION

    @property
    def backchannel_timeout(self) -> tuple[float, float]:
        """``(connect, read)``: the back-channel's ``requests`` timeout."""
        return (self.BACKCHANNEL_CONNECT_TIMEOUT, self.BACKCHANNEL_READ_TIMEOUT)


#: Every setting, in the order of the settings page.
SETTINGS: tuple[Setting[object], ...] = tuple(s for _, group in GROUPS for s in settings_of(group))

#: Every setting and its default value.
DEFAULTS: dict[str, object] = {s.name: s.default for s in SETTINGS}

#: Keys whose values are dotted paths, imported when read.
IMPORT_STRINGS: frozenset[str] = frozenset(s.name for s in SETTINGS if isinstance(s, ImportString))

#: Keys that existed once. Using one is the error ``django_bff.E003``, whose hint points to the changelog.
REMOVED_SETTINGS: dict[str, str] = {}
