"""The check of the OpenID Connect client: mozilla-django-oidc's settings and our authentication backend.

In the data flow: a concern of :mod:`django_bff.checks`. Logins go through
mozilla-django-oidc with :class:`~django_bff.auth.BFFAuthenticationBackend`
(``E011``), which needs the client's id, secret and the provider's endpoints
(``E010``, ``BFF["AUTHORITY"]`` can supply some) and, for an asymmetric
algorithm, the provider's keys (``E017``). What weakens logins (HS256, no PKCE,
unsigned or plain-text tokens) is the security concern's
(:mod:`django_bff.checks.security`).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error

from django_bff.checks.messages import bff_dict
from django_bff.conf.declared import BFFSettings
from django_bff.conf.loading import load_class
from django_bff.exceptions import BFFImproperlyConfigured

__all__ = ["check_oidc_client"]

_BACKEND = "django_bff.auth.BFFAuthenticationBackend"


def check_oidc_client(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """The backend that keeps tokens is installed, and mozilla-django-oidc has what it needs."""
    user = bff_dict()
    if user is None:
        return []
    authority = BFFSettings.AUTHORITY.value_or_default(user)
    messages: list[CheckMessage] = []
    if not any(_is_bff_backend(b) for b in getattr(settings, "AUTHENTICATION_BACKENDS", [])):
        messages.append(
            Error(
                "No BFFAuthenticationBackend in AUTHENTICATION_BACKENDS.",
                hint=f'Add "{_BACKEND}" (or a subclass) so logins keep their tokens.',
                id="django_bff.E011",
            )
        )
    required = ["OIDC_RP_CLIENT_ID", "OIDC_OP_AUTHORIZATION_ENDPOINT"]
    if not authority:
        required += ["OIDC_OP_TOKEN_ENDPOINT"]
    missing = [name for name in required if not getattr(settings, name, None)]
    if not hasattr(settings, "OIDC_RP_CLIENT_SECRET"):
        missing.append("OIDC_RP_CLIENT_SECRET")  # None is fine for a public client; absent is not
    if missing:
        messages.append(
            Error(
                f"mozilla-django-oidc settings missing: {', '.join(missing)}.",
                hint='Set them (BFF["AUTHORITY"] can supply the token and JWKS endpoints).',
                id="django_bff.E010",
            )
        )
    algo = str(getattr(settings, "OIDC_RP_SIGN_ALGO", "HS256"))
    has_keys = (
        getattr(settings, "OIDC_OP_JWKS_ENDPOINT", None) or getattr(settings, "OIDC_RP_IDP_SIGN_KEY", None) or authority
    )
    if not algo.startswith("HS") and not has_keys:
        messages.append(
            Error(
                f"{algo} needs the provider's keys: no JWKS endpoint is set.",
                hint='Set OIDC_OP_JWKS_ENDPOINT or BFF["AUTHORITY"].',
                id="django_bff.E017",
            )
        )
    return messages


def _is_bff_backend(path: object) -> bool:
    from django_bff.auth import BFFAuthenticationBackend

    try:
        load_class(path, BFFAuthenticationBackend, "AUTHENTICATION_BACKENDS")
    except BFFImproperlyConfigured:
        return False
    return True
