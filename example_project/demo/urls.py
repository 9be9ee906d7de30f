from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView
from oauth2_provider.views import RPInitiatedLogoutView

from demo import api, witness

urlpatterns = [
    # The identity provider (on http://localhost:PORT). Its end-session endpoint takes the POST of
    # RP-Initiated Logout 1.0 from the app's page (another site, without the provider's CSRF token);
    # a GET to it does the same without any token, so the exemption opens nothing new.
    path("o/logout/", csrf_exempt(RPInitiatedLogoutView.as_view())),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("idp/login/", auth_views.LoginView.as_view(), name="idp-login"),
    # The demo API (on http://localhost:PORT).
    path("demo-api/user-data", api.user_data),
    path("demo-api/app-data", api.app_data),
    # The browser app and its BFF (on http://127.0.0.1:PORT).
    path("", TemplateView.as_view(template_name="demo/index.html"), name="home"),
    path("demo/report", witness.report),
    path("demo/events", witness.events),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("", include("django_bff.urls")),  # /bff/login, /bff/logout, /bff/user, /bff/backchannel, /api/...
]
