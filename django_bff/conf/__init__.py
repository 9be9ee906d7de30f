"""Settings for django_bff, read from the single ``settings.BFF`` dict.

Users write::

    BFF = {
        "REFRESH_BEFORE_EXPIRATION": 60,
        "USER_TOKEN_STORE": {
            "BACKEND": "django_bff.stores.SessionTokenStore",
            "OPTIONS": {},
        },
    }

Any key left out takes its default (:data:`DEFAULTS`).

In the data flow: this package comes first (the foundation); every other
module reads settings through :data:`bff_settings`, whose attributes are
typed by the one declaration of
each setting (:mod:`django_bff.conf.declared`), and makes its long-lived
objects with :func:`~django_bff.conf.built.per_settings`. Values are read at
call time and read again when ``BFF`` changes (``override_settings``): the
receiver below forgets them and everything made from them. The system checks
(:mod:`django_bff.checks`) report a bad value with an id at start-up; reading
one of the wrong type raises :class:`~django_bff.conf.problems.InvalidSetting`.

The package's modules, each with one job: :mod:`~django_bff.conf.setting`
(the descriptor a setting is), :mod:`~django_bff.conf.kinds` and
:mod:`~django_bff.conf.references` (the kinds of setting),
:mod:`~django_bff.conf.token_groups` and :mod:`~django_bff.conf.http_groups`
(the declarations, by group), :mod:`~django_bff.conf.declared` (the groups
assembled),
:mod:`~django_bff.conf.problems` (what is wrong, with its check id),
:mod:`~django_bff.conf.loading` (dotted paths) and
:mod:`~django_bff.conf.built` (objects made from settings, and their reset).
"""

from __future__ import annotations

from typing import TypeVar

from django.core.signals import setting_changed
from django.dispatch import receiver

from django_bff.conf.built import on_reload, per_settings, per_settings_closing, reset_all, stop_threads
from django_bff.conf.declared import DEFAULTS, IMPORT_STRINGS, REMOVED_SETTINGS, BFFSettings
from django_bff.conf.loading import make_backend
from django_bff.conf.problems import InvalidSetting

__all__ = [
    "DEFAULTS",
    "IMPORT_STRINGS",
    "REMOVED_SETTINGS",
    "bff_settings",
    "BFFSettings",
    "InvalidSetting",
    "on_reload",
    "per_settings",
    "per_settings_closing",
    "stop_threads",
    "load_backend",
]

T = TypeVar("T")

#: The settings, as ``bff_settings.NAME``.
bff_settings = BFFSettings()

#: Django settings whose change makes django_bff read its settings and make its objects again.
RELOAD_ON = frozenset({"BFF", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "CACHES"})


@receiver(setting_changed)
def _reload_bff_settings(*, setting: str, **kwargs: object) -> None:
    if setting in RELOAD_ON:
        bff_settings.reload()
        reset_all()


def load_backend(setting: str, base: type[T], error: type[Exception]) -> T:
    """The backend named by ``BFF[setting]`` (``{"BACKEND": dotted path, "OPTIONS": {...}}``), made.

    Like Django's ``STORAGES``: the class is imported and called with the
    ``OPTIONS`` as keyword arguments. Every failure raises ``error``, naming the
    setting (:func:`django_bff.conf.loading.make_backend`).
    """
    config = bff_settings.user_settings.get(setting, DEFAULTS[setting])
    return make_backend(config, base, f'BFF["{setting}"]', error)
