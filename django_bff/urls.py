"""``path("", include("django_bff.urls"))``: the BFF's endpoints and the routes of ``BFF["REMOTE_APIS"]``.

``bff/login``, ``bff/logout``, ``bff/user``, ``bff/backchannel`` and
``bff/diagnostics`` (under ``BFF["BASE_PATH"]``), named ``login``, ``logout``,
``user``, ``backchannel`` and ``diagnostics`` in the ``django_bff`` namespace.

In the data flow: Django imports this URLconf once, like any other, and
``urlpatterns`` is a plain list made then from ``BFF["BASE_PATH"]`` and
``BFF["REMOTE_APIS"]`` (:func:`django_bff.proxy.settings_routes`; an entry the
system checks report is left out, not raised). A change of those settings is
seen by a URLconf imported after it: tests that change them switch
``ROOT_URLCONF`` (``override_settings(ROOT_URLCONF=...)``), as for any URLconf.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from django_bff.conf import bff_settings
from django_bff.proxy import settings_routes
from django_bff.views import BackchannelLogoutView, DiagnosticsView, LoginView, LogoutView, UserView

app_name = "django_bff"

_base = bff_settings.BASE_PATH

urlpatterns: list[URLPattern] = [
    path(f"{_base}login", LoginView.as_view(), name="login"),
    path(f"{_base}logout", LogoutView.as_view(), name="logout"),
    path(f"{_base}user", UserView.as_view(), name="user"),
    path(f"{_base}backchannel", BackchannelLogoutView.as_view(), name="backchannel"),
    path(f"{_base}diagnostics", DiagnosticsView.as_view(), name="diagnostics"),
    *settings_routes(),
]
