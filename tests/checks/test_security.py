"""The security check: tokens in cookies, TLS, logins, the OIDC callback, the session cookie."""

from __future__ import annotations

from typing import Any

import pytest

from django_bff.views import OIDCCallbackView
from tests.support.checks import ids


def test_E009_and_W001_signed_cookies(bff: Any, settings: Any) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    assert bff() == ["django_bff.W001", "django_bff.W005", "django_bff.W010", "django_bff.W015"]
    assert "django_bff.E009" in bff(ENCRYPT_TOKENS=False)
    # CacheTokenStore keeps tokens out of the cookie: no warning.
    assert "django_bff.W001" not in bff(
        ENCRYPT_TOKENS=True, USER_TOKEN_STORE={"BACKEND": "django_bff.stores.CacheTokenStore"}
    )


def test_E009_and_W001_name_the_cookie_store_too(bff: Any, settings: Any) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    cookie_store = {"BACKEND": "django_bff.stores.CookieTokenStore"}
    assert "django_bff.W001" in bff(USER_TOKEN_STORE=cookie_store)
    assert "django_bff.E009" in bff(USER_TOKEN_STORE=cookie_store, ENCRYPT_TOKENS=False)


def test_W002_hs256(settings: Any) -> None:
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    assert "django_bff.W002" in ids()


def test_W003_no_pkce(settings: Any) -> None:
    settings.OIDC_USE_PKCE = False
    assert "django_bff.W003" in ids()


@pytest.mark.parametrize("name", ["OIDC_STORE_ACCESS_TOKEN", "OIDC_STORE_ID_TOKEN"])
def test_W006_plain_text_tokens_in_session(settings: Any, name: str) -> None:
    setattr(settings, name, True)
    assert "django_bff.W006" in ids()


def test_W007_tls_verification_off(bff: Any) -> None:
    assert "django_bff.W007" in bff(BACKCHANNEL_VERIFY=False)


def test_W008_unsecured_jwt(settings: Any) -> None:
    settings.OIDC_ALLOW_UNSECURED_JWT = True
    assert "django_bff.W008" in ids()


def test_W009_proxy_tls_verification_off(bff: Any) -> None:
    assert "django_bff.W009" in bff(PROXY_VERIFY=False)


def test_W010_insecure_cookie_outside_debug(settings: Any) -> None:
    assert "django_bff.W010" in ids()
    settings.SESSION_COOKIE_SECURE = True
    assert "django_bff.W010" not in ids()
    settings.SESSION_COOKIE_SECURE = False
    settings.DEBUG = True
    assert "django_bff.W010" not in ids()


def test_W011_cookie_not_httponly(settings: Any) -> None:
    settings.SESSION_COOKIE_HTTPONLY = False
    assert "django_bff.W011" in ids()


@pytest.mark.parametrize(("value", "check_id"), [("None", "django_bff.W012"), ("Strict", "django_bff.W013")])
def test_W012_W013_samesite(settings: Any, value: str, check_id: str) -> None:
    settings.SESSION_COOKIE_SAMESITE = value
    assert check_id in ids()
    settings.SESSION_COOKIE_SAMESITE = "Lax"
    assert check_id not in ids()


def test_W014_save_every_request_with_djangos_session_middleware(settings: Any) -> None:
    settings.SESSION_SAVE_EVERY_REQUEST = True
    assert "django_bff.W014" not in ids()  # the test settings use django_bff.middleware.SessionMiddleware
    settings.MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
    assert "django_bff.W014" in ids()


def test_W015_signed_cookie_sessions(settings: Any) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    assert "django_bff.W015" in ids()


@pytest.mark.parametrize(
    "callback, warned",
    [
        (None, True),
        ("mozilla_django_oidc.views.OIDCAuthenticationCallbackView", True),
        ("django_bff.views.OIDCCallbackView", False),
        ("tests.checks.test_security.OwnCallback", False),
        ("no.such.View", True),
    ],
)
def test_W018_a_callback_that_logs_users_out_on_any_error(settings: Any, callback: str | None, warned: bool) -> None:
    if callback is None:
        del settings.OIDC_CALLBACK_CLASS
    else:
        settings.OIDC_CALLBACK_CLASS = callback
    assert ("django_bff.W018" in ids()) is warned


class OwnCallback(OIDCCallbackView):
    """A project's own subclass is fine."""


@pytest.mark.parametrize(
    ("changes", "warned"),
    [
        # The test settings: the provider shares 127.0.0.1, the cookie is not called "sessionid".
        ({}, False),
        ({"SESSION_COOKIE_NAME": "sessionid"}, True),
        # The demo's case: the provider is this project, whatever the name.
        ({"INSTALLED_APPS": ["oauth2_provider"]}, True),
        ({"INSTALLED_APPS": ["oauth2_provider.apps.DOTConfig"]}, True),
        # Another host name: cookies do not meet (ports would not separate them).
        ({"SESSION_COOKIE_NAME": "sessionid", "ALLOWED_HOSTS": ["app.example.com"]}, False),
        ({"SESSION_COOKIE_NAME": "sessionid", "ALLOWED_HOSTS": [".example.com"]}, False),
        ({"SESSION_COOKIE_NAME": "sessionid", "ALLOWED_HOSTS": ["*"]}, False),
        ({"SESSION_COOKIE_NAME": "sessionid", "ALLOWED_HOSTS": [".0.0.1"]}, True),
        # DEBUG with no ALLOWED_HOSTS: Django answers to localhost, 127.0.0.1 and [::1].
        ({"SESSION_COOKIE_NAME": "sessionid", "ALLOWED_HOSTS": [], "DEBUG": True}, True),
        # A cookie domain that covers the provider's host.
        (
            {
                "SESSION_COOKIE_NAME": "sessionid",
                "ALLOWED_HOSTS": ["app.example.com"],
                "provider": "https://id.example.com/auth",
                "SESSION_COOKIE_DOMAIN": ".example.com",
            },
            True,
        ),
        (
            {
                "SESSION_COOKIE_NAME": "sessionid",
                "ALLOWED_HOSTS": ["app.example.com"],
                "provider": "https://id.example.com/auth",
            },
            False,
        ),
        ({"SESSION_COOKIE_NAME": "sessionid", "ALLOWED_HOSTS": ["[::1]"], "provider": "http://[::1]:8080/auth"}, True),
        ({"SESSION_COOKIE_NAME": "sessionid", "provider": "not a url"}, True),  # AUTHORITY's host then
        ({"SESSION_COOKIE_NAME": "sessionid", "provider": "http://[::1/auth", "AUTHORITY": None}, False),
    ],
)
def test_W019_a_session_cookie_the_providers_can_overwrite(
    settings: Any, bff: Any, changes: dict[str, Any], warned: bool
) -> None:
    changes = dict(changes)
    if "INSTALLED_APPS" in changes:
        changes["INSTALLED_APPS"] = [*settings.INSTALLED_APPS, *changes["INSTALLED_APPS"]]
    if "provider" in changes:
        settings.OIDC_OP_AUTHORIZATION_ENDPOINT = changes.pop("provider")
    authority = changes.pop("AUTHORITY", settings.BFF["AUTHORITY"])
    for name, value in changes.items():
        setattr(settings, name, value)
    found = bff(AUTHORITY=authority)
    assert ("django_bff.W019" in found) is warned, found
