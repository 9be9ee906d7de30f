"""Settings of the django_bff demo: an identity provider, the BFF and an API in one Django project.

One uvicorn process (``demo.asgi``) plays three parts, told apart by host name so that
their session cookies stay apart (cookies are per host, not per port):

* ``http://localhost:PORT/o/``: the identity provider (django-oauth-toolkit with
  OpenID Connect, RS256, PKCE, refresh-token rotation with reuse detection and
  short-lived access tokens); its login page is ``/idp/login/``;
* ``http://localhost:PORT/demo-api/``: an API that accepts only valid access
  tokens of that provider, with a WebSocket endpoint ``ws://localhost:PORT/demo-api/live``;
* ``http://127.0.0.1:PORT/``: the browser app and its BFF (django_bff), which
  proxies ``/api/...`` calls and the WebSocket ``/api/live/``.

Not for production: DEBUG is on, the secrets are fixed, the cache is per process.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DEMO_DATA_DIR") or BASE_DIR / "var").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
PORT = int(os.environ.get("DEMO_PORT", "8000"))
APP_ORIGIN = f"http://127.0.0.1:{PORT}"
IDP_ORIGIN = f"http://localhost:{PORT}"
ISSUER = f"{IDP_ORIGIN}/o"
#: Short, so that the demo shows a refresh within a minute.
ACCESS_TOKEN_SECONDS = int(os.environ.get("DEMO_ACCESS_TOKEN_SECONDS", "30"))

SECRET_KEY = "django-bff-demo-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "demo.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "oauth2_provider",
    "mozilla_django_oidc",
    "django_bff",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "demo.witness.ProviderSessionCookie",
    "demo.witness.SetCookieRecorder",
    "django_bff.middleware.SessionMiddleware",
    "demo.witness.KeepVisit",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "demo.sqlite3"}}
# One process: a per-process cache is enough here. Use Redis (django-redis) with several.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# W019: this project is the provider too, on localhost; the app is on 127.0.0.1 (open it there only).
SILENCED_SYSTEM_CHECKS = ["django_bff.W005", "django_bff.W019"]
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = True  # sliding sessions; /bff/user?slide=false does not slide
STATIC_URL = "/static/"

# The identity provider's users log in with a password (ModelBackend); the BFF's
# users through OpenID Connect (BFFAuthenticationBackend). Separate hosts, separate sessions.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_bff.auth.BFFAuthenticationBackend",
]
LOGIN_URL = "/idp/login/"


def _signing_key() -> str:
    """The provider's RSA key, made once per data directory."""
    path = DATA_DIR / "oidc-signing-key.pem"
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pem)
        os.replace(tmp, path)
    return path.read_text()


# --- the identity provider (django-oauth-toolkit) ---------------------------------------------
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _signing_key(),
    "OIDC_ISS_ENDPOINT": ISSUER,
    "OAUTH2_VALIDATOR_CLASS": "demo.idp.DemoValidator",
    "PKCE_REQUIRED": True,
    "SCOPES": {
        "openid": "Sign you in",
        "email": "Your email address",
        "profile": "Your name",
        "offline_access": "Keep you signed in",
        "api": "Call the demo API",
    },
    "DEFAULT_SCOPES": ["api"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_SECONDS,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 8 * 3600,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
}

# --- the BFF: mozilla-django-oidc's settings, then django_bff's --------------------------------
OIDC_RP_CLIENT_ID = "bff"
OIDC_RP_CLIENT_SECRET = "bff-demo-secret"
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid email profile api"
OIDC_USE_PKCE = True
OIDC_CALLBACK_CLASS = "django_bff.views.OIDCCallbackView"
OIDC_TOKEN_USE_BASIC_AUTH = True
OIDC_OP_AUTHORIZATION_ENDPOINT = f"{ISSUER}/authorize/"
# The token endpoint and the JWKS come from the discovery document of BFF["AUTHORITY"].
LOGIN_REDIRECT_URL = "/"
LOGIN_REDIRECT_URL_FAILURE = "/?login=failed"

BFF = {
    "AUTHORITY": ISSUER,
    "REVOCATION_ENDPOINT": f"{ISSUER}/revoke_token/",
    # Access tokens live 30 s here: refresh 5 s before they expire.
    "REFRESH_BEFORE_EXPIRATION": 5,
    "CLIENTS": {
        "demo-machine": {
            "CLIENT_ID": "bff-machine",
            "CLIENT_SECRET": "bff-machine-demo-secret",
            "TOKEN_ENDPOINT": f"{ISSUER}/token/",
            "SCOPE": "api",
        }
    },
    "REMOTE_APIS": [
        # The user's own access token.
        {"PREFIX": "api/user/", "TARGET": f"{IDP_ORIGIN}/demo-api/", "TOKEN_TYPE": "user"},
        # The app's client-credentials token, for logged-in users only.
        {
            "PREFIX": "api/app/",
            "TARGET": f"{IDP_ORIGIN}/demo-api/",
            "TOKEN_TYPE": "client",
            "CLIENT": "demo-machine",
            "REQUIRE_AUTHENTICATION": True,
        },
        # A WebSocket (a ws:// target): the user's token goes to the live API in the handshake.
        {"PREFIX": "api/live/", "TARGET": f"ws://localhost:{PORT}/demo-api/live", "TOKEN_TYPE": "user"},
    ],
    # An open socket reads its session every 2 s (10 by default): a logout closes it (1008) at once.
    "WEBSOCKET_SESSION_CHECK_INTERVAL": 2,
    # The demo API is plain http on loopback.
    "ALLOW_INSECURE_UPSTREAMS": True,
    # The identity token goes to the provider in a form's body, not in a URL (the browser's history).
    # The provider takes the POST: its logout view is CSRF-exempt (urls.py) and its session cookie
    # SameSite=None (demo.witness.ProviderSessionCookie).
    "LOGOUT_METHOD": "post",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_bff": {"handlers": ["console"], "level": "INFO"},
        "django.security.django_bff": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
