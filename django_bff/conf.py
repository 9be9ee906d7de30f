"""Settings for django_bff, read from the single ``settings.BFF`` dict.

Users write::

    BFF = {
        "REFRESH_BEFORE_EXPIRATION": 60,
        "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.SessionTokenStore", "OPTIONS": {}},
    }

Any key left out takes its value from :data:`DEFAULTS`. The values are read at
call time through :data:`bff_settings` and re-read when ``BFF`` changes (for
example under ``override_settings``). Validation happens in system checks
(:mod:`django_bff.checks`), not here, so that a bad value is reported with an id
at start-up instead of as a traceback in the middle of a request.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

__all__ = [
    "DEFAULTS",
    "IMPORT_STRINGS",
    "REMOVED_SETTINGS",
    "bff_settings",
    "BFFSettings",
    "on_reload",
    "load_backend",
]

DEFAULTS: dict[str, Any] = {
    # Token storage (reference: IUserTokenStore, SaveTokens).
    "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.SessionTokenStore", "OPTIONS": {}},
    "SAVE_TOKENS": True,
    "ENCRYPT_TOKENS": True,
    "TOKEN_ENCRYPTION_KEYS": None,
    # Token lifetime management.
    "REFRESH_BEFORE_EXPIRATION": 60,
    "CACHE": "default",
    "REFRESH_LOCK_TIMEOUT": 30.0,
    "REFRESH_LOCK_WAIT": 20.0,
    "TOKEN_MEMORY_TTL": 10.0,
    "RETRY_AFTER": 5,
    # Token service communication (reference: the named back-channel HttpClient).
    "BACKCHANNEL_SESSION": "django_bff.backchannel.default_session",
    "BACKCHANNEL_CONNECT_TIMEOUT": 5.0,
    "BACKCHANNEL_READ_TIMEOUT": 10.0,
    "BACKCHANNEL_POOL_SIZE": 10,
    "BACKCHANNEL_VERIFY": True,
    "BACKCHANNEL_CLIENT_CERT": None,
    "BACKCHANNEL_MAX_RESPONSE_SIZE": 1024 * 1024,
    "MAX_TOKEN_SIZE": 32 * 1024,
    "AUTHORITY": None,
    "REVOCATION_ENDPOINT": None,
    "DISCOVERY_CACHE_TTL": 3600,
    "JWKS_CACHE_TTL": 3600,
    "JWKS_MIN_REFETCH_INTERVAL": 30,
    # Remote API routes (reference: MapRemoteBffApiEndpoint, IAccessTokenRetriever).
    "REMOTE_APIS": [],
    "ACCESS_TOKEN_RETRIEVERS": [],
    "ALLOW_INSECURE_UPSTREAMS": False,
    # Named clients for the client-credentials grant, and client assertions (private_key_jwt).
    "CLIENTS": {},
    "CLIENT_ASSERTION_SERVICE": None,
    # The BFF's own endpoints (/bff/login ...).
    "BASE_PATH": "bff/",
    "ALLOWED_RETURN_ORIGINS": [],
    "ANONYMOUS_SESSION_RESPONSE": 401,
    "USER_CLAIMS": None,
    "USER_CLAIMS_EXCLUDED": [
        "aud",
        "azp",
        "acr",
        "amr",
        "at_hash",
        "c_hash",
        "exp",
        "iat",
        "iss",
        "jti",
        "nbf",
        "nonce",
        "s_hash",
        "sid",
        "auth_time",
    ],
    "REVOKE_REFRESH_TOKEN_ON_LOGOUT": True,
    # Back-channel logout (OpenID Connect Back-Channel Logout 1.0) and the server-side session index.
    "BACKCHANNEL_LOGOUT_ALGORITHMS": [
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
    ],
    "BACKCHANNEL_LOGOUT_MAX_AGE": 300,
    "SESSION_INDEX": {"BACKEND": "django_bff.sessions.DatabaseSessionIndex", "OPTIONS": {}},
    # /bff/diagnostics: None follows DEBUG.
    "DIAGNOSTICS": None,
    # Anti-forgery for BFF API routes (reference: the X-CSRF: 1 header).
    "ANTIFORGERY_HEADER": "X-CSRF",
    "ANTIFORGERY_VALUE": "1",
    # The proxy: its own pooled session, separate from the back-channel.
    "MAX_REQUEST_BODY": 10 * 1024 * 1024,
    "PROXY_CONNECT_TIMEOUT": 5.0,
    "PROXY_READ_TIMEOUT": 30.0,
    "PROXY_POOL_SIZE": 20,
    "PROXY_VERIFY": True,
    "PROXY_CLIENT_CERT": None,
    "PROXY_CHUNK_SIZE": 256 * 1024,
    "REQUEST_BODY_TIMEOUT": 30.0,
}

#: Keys whose values are dotted paths, imported on access.
IMPORT_STRINGS: frozenset[str] = frozenset({"BACKCHANNEL_SESSION"})

#: Keys that existed once. Using one is a system-check error pointing to the changelog.
REMOVED_SETTINGS: dict[str, str] = {}


class BFFSettings:
    """Lazy view of ``settings.BFF`` merged over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, "BFF", {})
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in DEFAULTS:
            raise AttributeError(f"Invalid BFF setting: {name!r}")
        if name in self._cache:
            return self._cache[name]
        value = self.user_settings.get(name, DEFAULTS[name])
        if name in IMPORT_STRINGS and isinstance(value, str):
            value = import_string(value)
        self._cache[name] = value
        return value

    def reload(self) -> None:
        self._cache.clear()

    # Typed accessors for the values the code reads most.
    @property
    def refresh_before_expiration(self) -> float:
        return float(self.REFRESH_BEFORE_EXPIRATION)

    @property
    def backchannel_timeout(self) -> tuple[float, float]:
        return (float(self.BACKCHANNEL_CONNECT_TIMEOUT), float(self.BACKCHANNEL_READ_TIMEOUT))


bff_settings = BFFSettings()

_reload_hooks: list[Any] = []


def on_reload(func: Any) -> Any:
    """Register ``func`` to run when ``settings.BFF`` changes (caches built from settings)."""
    _reload_hooks.append(func)
    return func


@receiver(setting_changed)
def _reload_bff_settings(*, setting: str, **kwargs: Any) -> None:
    if setting in ("BFF", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "CACHES"):
        bff_settings.reload()
        for hook in _reload_hooks:
            hook()


T = TypeVar("T")


def load_backend(setting: str, base: type[T], error: type[Exception]) -> T:
    """The backend named by ``BFF[setting]`` (``{"BACKEND": dotted path, "OPTIONS": {...}}``), made.

    Like Django's ``STORAGES``: the class is imported and called with the
    ``OPTIONS`` as keyword arguments. Every failure raises ``error``, naming the
    setting.
    """
    config = getattr(bff_settings, setting)
    if not isinstance(config, dict) or not isinstance(config.get("BACKEND"), str):
        raise error(f'BFF["{setting}"] must be a dict with a "BACKEND" dotted path')
    try:
        backend = import_string(config["BACKEND"])
    except ImportError as e:
        raise error(f'Could not import BFF["{setting}"]["BACKEND"] {config["BACKEND"]!r}: {e}') from e
    if not (isinstance(backend, type) and issubclass(backend, base)):
        raise error(f"{config['BACKEND']!r} is not a subclass of {base.__module__}.{base.__qualname__}")
    try:
        made: T = backend(**(config.get("OPTIONS") or {}))
    except TypeError as e:
        raise error(f'BFF["{setting}"]["OPTIONS"] rejected: {e}') from e
    return made
