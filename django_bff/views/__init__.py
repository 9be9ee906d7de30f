"""The BFF's own endpoints: ``/bff/login``, ``/bff/logout``, ``/bff/user``, ``/bff/backchannel``.

In the data flow: the entry points of the browser and the provider that are not
the proxy. Each endpoint is a module of this package (:mod:`.login`,
:mod:`.logout`, :mod:`.user`, :mod:`.backchannel`, :mod:`.diagnostics`); every
name is importable from ``django_bff.views``, and they log to
``django_bff.views``.

``/bff/login?returnUrl=/orders&prompt=none`` starts the OpenID Connect login
(authorization code with PKCE, state and nonce, through mozilla-django-oidc)
and, once the user is back, sends the browser to ``returnUrl``. ``returnUrl``
must be a local path, or an absolute URL on an origin of
``BFF["ALLOWED_RETURN_ORIGINS"]``; anything else answers 400
``{"error": "invalid_return_url"}``, so the login can never be used to send a
user to another site (an open redirect). ``prompt`` (``none``, ``login``,
``consent``, ``select_account``) passes through; ``prompt=none`` is the silent
login.

``/bff/logout``, ``/bff/user`` and ``/bff/backchannel`` are described on their
views in this package and in ``docs/endpoints.rst``; :class:`OIDCCallbackView` is the
callback to mount with mozilla-django-oidc's URLs (``OIDC_CALLBACK_CLASS``).
"""

from __future__ import annotations

from django_bff.views.backchannel import BackchannelLogoutView
from django_bff.views.diagnostics import DiagnosticsView, diagnostics_enabled
from django_bff.views.login import LoginView, OIDCCallbackView, safe_return_url
from django_bff.views.logout import LogoutView
from django_bff.views.user import UserView

__all__ = [
    "LoginView",
    "LogoutView",
    "UserView",
    "BackchannelLogoutView",
    "OIDCCallbackView",
    "DiagnosticsView",
    "diagnostics_enabled",
    "safe_return_url",
]
