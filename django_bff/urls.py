"""``path("", include("django_bff.urls"))``: the BFF's endpoints and the routes of ``BFF["REMOTE_APIS"]``.

``bff/login``, ``bff/logout``, ``bff/user``, ``bff/backchannel`` and
``bff/diagnostics`` (under ``BFF["BASE_PATH"]``), named ``login``, ``logout``,
``user``, ``backchannel`` and ``diagnostics`` in the ``django_bff`` namespace.

``urlpatterns`` is computed when Django's resolver asks for it (PEP 562), not at
import, so the settings are read at call time and a change of ``BFF`` (with
``override_settings``) is seen after ``clear_url_caches()``, which django_bff
calls itself.
"""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import URLResolver, clear_url_caches, get_resolver

app_name = "django_bff"


def __getattr__(name: str) -> Any:
    if name == "urlpatterns":
        from django.urls import path

        from django_bff.conf import bff_settings
        from django_bff.proxy import settings_routes
        from django_bff.views import BackchannelLogoutView, DiagnosticsView, LoginView, LogoutView, UserView

        base = str(bff_settings.BASE_PATH)
        return [
            path(f"{base}login", LoginView.as_view(), name="login"),
            path(f"{base}logout", LogoutView.as_view(), name="logout"),
            path(f"{base}user", UserView.as_view(), name="user"),
            path(f"{base}backchannel", BackchannelLogoutView.as_view(), name="backchannel"),
            path(f"{base}diagnostics", DiagnosticsView.as_view(), name="diagnostics"),
            *settings_routes(),
        ]
    raise AttributeError(name)


@receiver(setting_changed)
def _routes_changed(*, setting: str, **kwargs: Any) -> None:
    """Forget the routes every resolver built from this module (tests change ``BFF``)."""
    if setting != "BFF":
        return
    import sys

    module = sys.modules[__name__]
    stack = [get_resolver()]
    while stack:
        resolver = stack.pop()
        if resolver.urlconf_module is module:
            # include() made this resolver once, when the root URLconf was imported;
            # its url_patterns is cached on the instance.
            resolver.__dict__.pop("url_patterns", None)
            resolver._populated = False  # type: ignore[attr-defined]
            resolver._reverse_dict.clear()
            resolver._namespace_dict.clear()  # type: ignore[attr-defined]
            resolver._app_dict.clear()  # type: ignore[attr-defined]
            continue
        stack.extend(p for p in resolver.url_patterns if isinstance(p, URLResolver))
    clear_url_caches()
