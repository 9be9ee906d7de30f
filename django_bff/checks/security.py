"""The security check: what would expose tokens or sessions, or weaken logins.

In the data flow: the concern of :mod:`django_bff.checks` tagged
``security``. Tokens in a signed (not encrypted) session cookie (``E009``,
``W001``), TLS verification turned off (``W007``, ``W009``), identity tokens
checked with the client secret or not at all, logins without PKCE, tokens kept
in plain text by mozilla-django-oidc (``W002``, ``W003``, ``W006``, ``W008``),
a callback that logs users out on any error (``W018``), the session
cookie's flags and engine (``W010`` to ``W015``), and a session cookie the
provider's can overwrite (``W019``).

``W019`` compares what a check can know without asking anyone: the host of the
provider's pages (``OIDC_OP_AUTHORIZATION_ENDPOINT``, else ``BFF["AUTHORITY"]``)
and the hosts this app answers to (``ALLOWED_HOSTS``, Django's defaults for
``DEBUG``; ``"*"`` says nothing) or sends its cookie to
(``SESSION_COOKIE_DOMAIN``). Browsers keep cookies per host name, not per
port, so on a shared host the two session cookies collide when they have the
same name: Django's ``sessionid`` (what a Django-based provider uses), or any
name when the provider is a Django app of this very project.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.http.request import validate_host

from django_bff.checks.messages import bff_dict
from django_bff.checks.storage import made_store
from django_bff.conf.declared import BFFSettings
from django_bff.conf.loading import load_class
from django_bff.exceptions import BFFImproperlyConfigured

__all__ = ["check_security"]

_CALLBACK = "django_bff.views.OIDCCallbackView"
_DJANGO_SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
_BFF_SESSION_MIDDLEWARE = "django_bff.middleware.SessionMiddleware"
#: Django's default SESSION_COOKIE_NAME: the session cookie of every Django-based provider too.
_DJANGO_SESSION_COOKIE = "sessionid"
#: Apps that make this Django project an OpenID provider (django-oauth-toolkit, django-oidc-provider).
_PROVIDER_APPS = ("oauth2_provider", "oidc_provider")


def check_security(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """Nothing leaves tokens readable, TLS unverified, logins weak or the session cookie exposed."""
    user = bff_dict()
    if user is None:
        return []
    messages = _check_cookie_store(user) + _check_tls(user) + _check_logins() + _check_callback()
    return messages + _check_cookies() + _check_cookie_collision(user)


def _check_cookie_store(user: dict[str, object]) -> list[CheckMessage]:
    from django.conf import settings

    from django_bff.stores import CookieTokenStore, SessionTokenStore

    store = made_store()
    signed_cookies = settings.SESSION_ENGINE.endswith("signed_cookies")
    in_cookie = (isinstance(store, SessionTokenStore) and store.in_cookie) or (
        isinstance(store, CookieTokenStore) and signed_cookies  # named in BFF["USER_TOKEN_STORE"] itself
    )
    if not in_cookie:
        return []
    messages: list[CheckMessage] = []
    if user.get("ENCRYPT_TOKENS", True) is False:
        messages.append(
            Error(
                "Tokens would sit unencrypted in the session cookie.",
                hint='signed_cookies signs but does not encrypt: set BFF["ENCRYPT_TOKENS"] = True.',
                id="django_bff.E009",
            )
        )
    messages.append(
        Warning(
            "signed_cookies sessions cannot keep refreshed tokens safely.",
            hint="Concurrent requests can restore a used refresh token; use a server-side "
            "SESSION_ENGINE or CacheTokenStore.",
            id="django_bff.W001",
        )
    )
    return messages


def _check_tls(user: dict[str, object]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if user.get("BACKCHANNEL_VERIFY", BFFSettings.BACKCHANNEL_VERIFY.default) is False:
        messages.append(
            Warning(
                "TLS certificates of the token service are not verified.",
                hint='Set BFF["BACKCHANNEL_VERIFY"] to True or to a CA bundle path.',
                id="django_bff.W007",
            )
        )
    if user.get("PROXY_VERIFY", BFFSettings.PROXY_VERIFY.default) is False:
        messages.append(
            Warning(
                "TLS certificates of remote APIs are not verified.",
                hint='Set BFF["PROXY_VERIFY"] to True or to a CA bundle path.',
                id="django_bff.W009",
            )
        )
    return messages


def _check_logins() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    algo = str(getattr(settings, "OIDC_RP_SIGN_ALGO", "HS256"))
    if algo.startswith("HS"):
        messages.append(
            Warning(
                f"OIDC_RP_SIGN_ALGO is {algo}: tokens are checked with the client secret.",
                hint='Providers sign with RS256 or ES256: set OIDC_RP_SIGN_ALGO = "RS256".',
                id="django_bff.W002",
            )
        )
    if getattr(settings, "OIDC_USE_PKCE", False) is not True:
        messages.append(
            Warning(
                "OIDC_USE_PKCE is not True.",
                hint="Set OIDC_USE_PKCE = True (RFC 9700 requires PKCE).",
                id="django_bff.W003",
            )
        )
    if getattr(settings, "OIDC_ALLOW_UNSECURED_JWT", False):
        messages.append(
            Warning(
                'OIDC_ALLOW_UNSECURED_JWT accepts identity tokens with alg "none".',
                hint="Remove it: anyone could then log in as anyone.",
                id="django_bff.W008",
            )
        )
    plain = [n for n in ("OIDC_STORE_ACCESS_TOKEN", "OIDC_STORE_ID_TOKEN") if getattr(settings, n, False)]
    if plain:
        messages.append(
            Warning(
                f"{', '.join(plain)} keeps tokens unencrypted in the session.",
                hint="Remove it: django_bff stores tokens encrypted.",
                id="django_bff.W006",
            )
        )
    return messages


def _check_callback() -> list[CheckMessage]:
    from django_bff.views import OIDCCallbackView

    path = getattr(settings, "OIDC_CALLBACK_CLASS", "mozilla_django_oidc.views.OIDCAuthenticationCallbackView")
    try:
        load_class(path, OIDCCallbackView, "OIDC_CALLBACK_CLASS")
    except BFFImproperlyConfigured:
        return [
            Warning(
                "The OIDC callback can be used to log users out (logout CSRF).",
                hint=f'Set OIDC_CALLBACK_CLASS = "{_CALLBACK}" (or a subclass).',
                id="django_bff.W018",
            )
        ]
    return []


def _check_cookies() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not settings.DEBUG and not settings.SESSION_COOKIE_SECURE:
        messages.append(
            Warning(
                "SESSION_COOKIE_SECURE is False: the session cookie can travel over http.",
                hint="Set SESSION_COOKIE_SECURE = True (and a __Host- SESSION_COOKIE_NAME).",
                id="django_bff.W010",
            )
        )
    if not settings.SESSION_COOKIE_HTTPONLY:
        messages.append(
            Warning(
                "SESSION_COOKIE_HTTPONLY is False: scripts can read the session cookie.",
                hint="Set SESSION_COOKIE_HTTPONLY = True: the cookie is the user's only credential.",
                id="django_bff.W011",
            )
        )
    samesite = str(settings.SESSION_COOKIE_SAMESITE).lower()
    if samesite == "none":
        messages.append(
            Warning(
                'SESSION_COOKIE_SAMESITE is "None": other sites send the cookie along.',
                hint='Use "Lax": the login callback still works, cross-site posts do not carry it.',
                id="django_bff.W012",
            )
        )
    elif samesite == "strict":
        messages.append(
            Warning(
                'SESSION_COOKIE_SAMESITE is "Strict": logins cannot finish.',
                hint="The provider's redirect back is cross-site: the login state is lost. Use Lax.",
                id="django_bff.W013",
            )
        )
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if settings.SESSION_SAVE_EVERY_REQUEST and _DJANGO_SESSION_MIDDLEWARE in middleware:
        messages.append(
            Warning(
                "SESSION_SAVE_EVERY_REQUEST: /bff/user?slide=false would extend sessions.",
                hint=f'Replace "{_DJANGO_SESSION_MIDDLEWARE}" by "{_BFF_SESSION_MIDDLEWARE}".',
                id="django_bff.W014",
            )
        )
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.signed_cookies":
        messages.append(
            Warning(
                "signed_cookies sessions cannot be ended from the server.",
                hint="Back-channel logout and bff_sessions revoke need a server-side SESSION_ENGINE.",
                id="django_bff.W015",
            )
        )
    return messages


def _provider_host(user: dict[str, object]) -> str | None:
    """The host name of the provider's pages (where the browser gets its cookies), lower case."""
    for url in (getattr(settings, "OIDC_OP_AUTHORIZATION_ENDPOINT", None), user.get("AUTHORITY")):
        if isinstance(url, str) and url:
            try:
                host = urlsplit(url).hostname
            except ValueError:
                continue
            if host:
                return f"[{host}]" if ":" in host else host
    return None


def _shares_cookies_with(host: str) -> str | None:
    """Why this app's session cookie meets ``host``'s, to follow "host": None when it does not."""
    domain = str(settings.SESSION_COOKIE_DOMAIN or "").lstrip(".").lower()
    if domain and (host == domain or host.endswith("." + domain)):
        return "SESSION_COOKIE_DOMAIN covers it"
    allowed = [h for h in settings.ALLOWED_HOSTS if h != "*"]
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # what Django allows then
    if validate_host(host, allowed):
        return "is in ALLOWED_HOSTS"
    return None


def _check_cookie_collision(user: dict[str, object]) -> list[CheckMessage]:
    host = _provider_host(user)
    shared = _shares_cookies_with(host) if host else None
    if not shared:
        return []
    name = settings.SESSION_COOKIE_NAME
    apps = [str(a) for a in settings.INSTALLED_APPS]
    is_provider = any(a == p or a.startswith(p + ".") for a in apps for p in _PROVIDER_APPS)
    if name != _DJANGO_SESSION_COOKIE and not is_provider:
        return []
    if is_provider:
        why = f"this project is the provider too (same cookie {name!r})"
        fix = "Serve the app on another host name than the provider's (ports do not separate cookies)."
    else:
        why = f"a Django-based provider names its cookie {name!r} too"
        fix = "Serve the app on another host name (ports do not separate cookies), or rename SESSION_COOKIE_NAME."
    return [
        Warning(
            "The session cookie can collide with the provider's (same host name).",
            hint=f"The provider's host {host}: {shared}, and {why}. {fix}",
            id="django_bff.W019",
        )
    ]
