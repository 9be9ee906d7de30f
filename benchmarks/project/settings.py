"""Django settings for the benchmarks: django_bff in its recommended production shape.

Redis (django-redis) for the cache, cache-backed sessions, ``CacheTokenStore``,
``DEBUG = False``, no request logging. ``run.py`` passes the moving parts through
the environment: ``BENCH_REDIS_URL``, ``BENCH_DB`` (an sqlite file in a temporary
directory), ``BENCH_UPSTREAM`` (the upstream's base URL) and, for a variant run,
``BENCH_CONN_MAX_AGE`` (Django's default, 0, closes the database connection at
the end of every request). ``live.py`` (B4) adds ``BENCH_PROXY_ASYNC`` (``1`` or
``0``: ``BFF["PROXY_ASYNC"]``, always set explicitly by B4) and the upstreams of
its routes (``BENCH_LIVE_UPSTREAM``, ``BENCH_WS_UPSTREAM``, see ``urls.py``).
"""

from __future__ import annotations

import os

SECRET_KEY = "benchmark-secret-key-not-for-production-0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
ROOT_URLCONF = "benchmarks.project.urls"
WSGI_APPLICATION = "benchmarks.project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:9")
LIVE_UPSTREAM = os.environ.get("BENCH_LIVE_UPSTREAM", "")  # live.py: server-sent events (http://...)
WS_UPSTREAM = os.environ.get("BENCH_WS_UPSTREAM", "")  # live.py: WebSocket echo (ws://...)
ASGI_APPLICATION = "benchmarks.project.asgi.application"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "mozilla_django_oidc",
    "django_bff",
    "revproxy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_DB", "/nonexistent/bench.sqlite3"),
        "CONN_MAX_AGE": int(os.environ.get("BENCH_CONN_MAX_AGE", "0")),
    }
}

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
if os.environ.get("BENCH_DB_SESSIONS"):
    # django_bff's defaults: sessions in the database, SessionTokenStore.
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTHENTICATION_BACKENDS = ["django_bff.auth.BFFAuthenticationBackend"]

# mozilla-django-oidc: dummy endpoints. Nothing calls them during the benchmark,
# because the stored token is valid for a day and no login happens over HTTP.
_ISSUER = os.environ.get("BENCH_ISSUER", "http://127.0.0.1:9")  # storm.py: its own token endpoint
OIDC_RP_CLIENT_ID = "bff"
OIDC_RP_CLIENT_SECRET = "bff-secret"
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid email"
OIDC_USE_PKCE = True
OIDC_OP_AUTHORIZATION_ENDPOINT = f"{_ISSUER}/auth"
OIDC_OP_TOKEN_ENDPOINT = f"{_ISSUER}/token"
OIDC_OP_JWKS_ENDPOINT = f"{_ISSUER}/jwks"
OIDC_OP_USER_ENDPOINT = None

BFF = {
    "AUTHORITY": _ISSUER,
    "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore"},
    # stream.py: 256 MiB uploads through the proxy.
    "MAX_REQUEST_BODY": int(os.environ.get("BENCH_MAX_REQUEST_BODY", str(10 * 1024 * 1024))),
}
if os.environ.get("BENCH_CHUNK_SIZE"):
    BFF["PROXY_CHUNK_SIZE"] = int(os.environ["BENCH_CHUNK_SIZE"])
if os.environ.get("BENCH_PROXY_POOL_SIZE"):  # live.py --pool-size
    BFF["PROXY_POOL_SIZE"] = int(os.environ["BENCH_PROXY_POOL_SIZE"])
if os.environ.get("BENCH_PROXY_ASYNC") in ("0", "1"):
    BFF["PROXY_ASYNC"] = os.environ["BENCH_PROXY_ASYNC"] == "1"
if os.environ.get("BENCH_DB_SESSIONS"):
    BFF.pop("USER_TOKEN_STORE")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
