"""``path("", include("django_bff.urls"))``: the routes of ``BFF["REMOTE_APIS"]``.

``urlpatterns`` is computed when Django's resolver asks for it (PEP 562), not at
import, so the settings are read at call time and a change of ``BFF`` (with
``override_settings``) is seen after ``clear_url_caches()``, which django_bff
calls itself.
"""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import clear_url_caches

app_name = "django_bff"


def __getattr__(name: str) -> Any:
    if name == "urlpatterns":
        from django_bff.proxy import settings_routes

        return list(settings_routes())
    raise AttributeError(name)


@receiver(setting_changed)
def _routes_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "BFF":
        clear_url_caches()
