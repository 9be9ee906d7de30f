"""Settings for the test suite (and for the gunicorn workers some tests start).

Values that tests need to vary are changed with ``override_settings`` /
pytest-django's ``settings`` fixture. Worker processes started by the tests get
their Redis URL, database (an SQLite file, or PostgreSQL with ``--postgres``)
and identity provider from environment variables, which only those tests set.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests-secret-key-not-for-production-0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "mozilla_django_oidc",
    "django_bff",
]

MIDDLEWARE = [
    # Records each response for the leak guard (tests/conftest.py): outermost, so it sees what leaves.
    "tests.support.leaks.ResponseRecorder",
    "django.middleware.security.SecurityMiddleware",
    "django_bff.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

# A file, not memory, so that worker processes started by the tests share it.
TEST_DB_PATH = os.path.join(tempfile.gettempdir(), f"django-bff-tests-{os.getpid()}.sqlite3")
DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BFF_TEST_DB") or TEST_DB_PATH,
        "TEST": {"NAME": TEST_DB_PATH},
    }
}
# ``pytest --postgres``: the test process points "default" at the PostgreSQL its fixtures started
# (tests/conftest.py) and exports its address, so worker processes use it too (BFF_TEST_DB: the database).
if os.environ.get("BFF_TEST_POSTGRES"):
    from tests.support.postgres import django_database

    DATABASES = {"default": django_database(os.environ["BFF_TEST_POSTGRES"], os.environ.get("BFF_TEST_DB") or "bff")}
# Worker processes of the tests that check what a deployment with these settings does.
DATABASES["default"]["ATOMIC_REQUESTS"] = bool(os.environ.get("BFF_TEST_ATOMIC_REQUESTS"))

_redis_url = os.environ.get("BFF_TEST_REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": _redis_url}
        if _redis_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
SESSION_ENGINE = os.environ.get("BFF_TEST_SESSION_ENGINE", "django.contrib.sessions.backends.db")
SESSION_SAVE_EVERY_REQUEST = bool(os.environ.get("BFF_TEST_SESSION_SAVE_EVERY_REQUEST"))
# Not Django's "sessionid": the test provider shares the host name 127.0.0.1 (django_bff.W019).
SESSION_COOKIE_NAME = "bff_session"

AUTHENTICATION_BACKENDS = ["django_bff.auth.BFFAuthenticationBackend"]

_issuer = os.environ.get("BFF_TEST_ISSUER", "http://127.0.0.1:9")
OIDC_RP_CLIENT_ID = "bff"
OIDC_RP_CLIENT_SECRET = "bff-secret"
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid email"
OIDC_USE_PKCE = True
OIDC_CALLBACK_CLASS = "django_bff.views.OIDCCallbackView"
OIDC_TOKEN_USE_BASIC_AUTH = True
OIDC_OP_AUTHORIZATION_ENDPOINT = f"{_issuer}/auth"
OIDC_OP_TOKEN_ENDPOINT = f"{_issuer}/token"
OIDC_OP_JWKS_ENDPOINT = f"{_issuer}/jwks"
OIDC_OP_USER_ENDPOINT = None
LOGIN_REDIRECT_URL = "/"
LOGIN_REDIRECT_URL_FAILURE = "/login-failed/"

BFF = {
    "AUTHORITY": _issuer,
    "REFRESH_BEFORE_EXPIRATION": 60,
    "BACKCHANNEL_CONNECT_TIMEOUT": 2.0,
    "BACKCHANNEL_READ_TIMEOUT": 5.0,
    "REFRESH_LOCK_TIMEOUT": 15.0,
    "REFRESH_LOCK_WAIT": 15.0,
}

# Server processes started by the proxy tests proxy "api/up/..." to this upstream.
_upstream = os.environ.get("BFF_TEST_UPSTREAM")
if _upstream:
    BFF["REMOTE_APIS"] = [
        {"PREFIX": "api/up/", "TARGET": f"{_upstream}/v1/", "TOKEN_TYPE": "none", "ALLOW_INSECURE": True},
        {"PREFIX": "api/user/", "TARGET": f"{_upstream}/v1/", "TOKEN_TYPE": "user", "ALLOW_INSECURE": True},
        {"PREFIX": "api/client/", "TARGET": f"{_upstream}/v1/", "TOKEN_TYPE": "client", "ALLOW_INSECURE": True},
    ]
if os.environ.get("BFF_TEST_MAX_REQUEST_BODY"):
    BFF["MAX_REQUEST_BODY"] = int(os.environ["BFF_TEST_MAX_REQUEST_BODY"])
# Worker processes make tokens expire by rewriting the store from the test process, which their
# memory of tokens would not see for BFF["TOKEN_MEMORY_TTL"] seconds: tests/support/servers.py sets 0.
if os.environ.get("BFF_TEST_TOKEN_MEMORY_TTL"):
    BFF["TOKEN_MEMORY_TTL"] = float(os.environ["BFF_TEST_TOKEN_MEMORY_TTL"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django_bff": {"level": "DEBUG"}, "django.security": {"level": "DEBUG"}},
}
