"""System checks for ``settings.BFF`` and the settings django_bff relies on.

Every id is listed, with its meaning and fix, in ``docs/checks.rst``. Ids are
never reused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from django_bff.conf import DEFAULTS, REMOVED_SETTINGS

__all__ = ["check_settings", "check_deploy"]

_BACKEND = "django_bff.auth.BFFAuthenticationBackend"

#: name -> (minimum, integer only, minimum is exclusive)
_NUMBERS: dict[str, tuple[float, bool, bool]] = {
    "REFRESH_BEFORE_EXPIRATION": (0, False, False),
    "REFRESH_LOCK_TIMEOUT": (0, False, True),
    "REFRESH_LOCK_WAIT": (0, False, True),
    "TOKEN_MEMORY_TTL": (0, False, False),
    "RETRY_AFTER": (1, True, False),
    "BACKCHANNEL_CONNECT_TIMEOUT": (0, False, True),
    "BACKCHANNEL_READ_TIMEOUT": (0, False, True),
    "BACKCHANNEL_POOL_SIZE": (1, True, False),
    "BACKCHANNEL_MAX_RESPONSE_SIZE": (1024, True, False),
    "MAX_TOKEN_SIZE": (256, True, False),
    "DISCOVERY_CACHE_TTL": (0, False, False),
    "JWKS_CACHE_TTL": (0, False, False),
    "JWKS_MIN_REFETCH_INTERVAL": (0, False, False),
    "PROXY_CONNECT_TIMEOUT": (0, False, True),
    "PROXY_READ_TIMEOUT": (0, False, True),
    "PROXY_POOL_SIZE": (1, True, False),
    "PROXY_CHUNK_SIZE": (1024, True, False),
    "REQUEST_BODY_TIMEOUT": (0, False, True),
    "BACKCHANNEL_LOGOUT_MAX_AGE": (0, False, True),
}
_BOOLEANS = ("SAVE_TOKENS", "ENCRYPT_TOKENS", "ALLOW_INSECURE_UPSTREAMS", "REVOKE_REFRESH_TOKEN_ON_LOGOUT")
#: JWS algorithms a back-channel logout token may use (asymmetric only).
_LOGOUT_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_DJANGO_SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
_BFF_SESSION_MIDDLEWARE = "django_bff.middleware.SessionMiddleware"


def _value(user: dict[str, Any], name: str) -> Any:
    return user.get(name, DEFAULTS[name])


def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    user = getattr(settings, "BFF", {})
    if not isinstance(user, dict):
        return [Error("settings.BFF must be a dict.", hint="Write BFF = {...} in settings.", id="django_bff.E001")]
    messages: list[CheckMessage] = []
    messages += _check_keys(user)
    messages += _check_values(user)
    messages += _check_store(user)
    messages += _check_backchannel(user)
    messages += _check_encryption(user)
    messages += _check_cache(user)
    messages += _check_cache_timeouts(user)
    messages += _check_oidc()
    messages += _check_callback()
    messages += _check_proxy(user)
    messages += _check_sessions(user)
    messages += _check_cookies()
    messages += _check_diagnostics(user)
    return messages


def check_deploy(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """``manage.py check --deploy``: what must not reach production."""
    user = getattr(settings, "BFF", {})
    if isinstance(user, dict) and user.get("DIAGNOSTICS") is True and not settings.DEBUG:
        return [
            Error(
                "/bff/diagnostics is on in a deployment.",
                hint='It shows what the BFF holds for a session: set BFF["DIAGNOSTICS"] = None.',
                id="django_bff.E040",
            )
        ]
    return []


def _check_diagnostics(user: dict[str, Any]) -> list[CheckMessage]:
    value = _value(user, "DIAGNOSTICS")
    if value is not None and not isinstance(value, bool):
        return [
            Error(
                'BFF["DIAGNOSTICS"] must be None, True or False.',
                hint=f"Got {value!r}; None follows DEBUG.",
                id="django_bff.E039",
            )
        ]
    return []


def _check_keys(user: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key in user:
        if key in REMOVED_SETTINGS:
            messages.append(
                Error(
                    f'BFF["{key}"] was removed.',
                    hint=f"See CHANGELOG.md: {REMOVED_SETTINGS[key]}",
                    id="django_bff.E003",
                )
            )
        elif key not in DEFAULTS:
            messages.append(
                Error(
                    f'BFF["{key}"] is not a django_bff setting.',
                    hint="Check the spelling; see docs/settings.",
                    id="django_bff.E002",
                )
            )
    return messages


def _check_values(user: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name, (minimum, integer, exclusive) in _NUMBERS.items():
        value = _value(user, name)
        valid_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not valid_type or value < minimum or (exclusive and value == minimum):
            kind = "an integer" if integer else "a number"
            bound = f"> {minimum}" if exclusive else f">= {minimum}"
            messages.append(
                Error(f'BFF["{name}"] must be {kind} {bound}.', hint=f"Got {value!r}.", id="django_bff.E005")
            )
    for name in _BOOLEANS:
        if not isinstance(_value(user, name), bool):
            messages.append(
                Error(
                    f'BFF["{name}"] must be True or False.', hint=f"Got {_value(user, name)!r}.", id="django_bff.E006"
                )
            )
    for name in ("AUTHORITY", "REVOCATION_ENDPOINT"):
        value = _value(user, name)
        if value is None:
            continue
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            messages.append(
                Error(f'BFF["{name}"] must be an absolute http(s) URL.', hint=f"Got {value!r}.", id="django_bff.E015")
            )
    if not messages:
        lock = float(_value(user, "REFRESH_LOCK_TIMEOUT"))
        call = float(_value(user, "BACKCHANNEL_CONNECT_TIMEOUT")) + float(_value(user, "BACKCHANNEL_READ_TIMEOUT"))
        if lock <= call:
            messages.append(
                Warning(
                    "The refresh lock can expire during a token request.",
                    hint='Make BFF["REFRESH_LOCK_TIMEOUT"] longer than the two BACKCHANNEL timeouts (their sum '
                    "is a token request's deadline).",
                    id="django_bff.W004",
                )
            )
    return messages


def _check_store(user: dict[str, Any]) -> list[CheckMessage]:
    from django_bff.exceptions import InvalidTokenStore
    from django_bff.stores import SessionTokenStore, get_token_store

    get_token_store.cache_clear()
    try:
        store = get_token_store()
    except InvalidTokenStore as e:
        return [Error('BFF["USER_TOKEN_STORE"] is not usable.', hint=str(e), id="django_bff.E004")]
    messages = list(store.check())
    if isinstance(store, SessionTokenStore) and store.in_cookie:
        if _value(user, "ENCRYPT_TOKENS") is False:
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


def _check_backchannel(user: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    path = _value(user, "BACKCHANNEL_SESSION")
    try:
        factory = import_string(path) if isinstance(path, str) else path
    except ImportError as e:
        factory = None
        hint = str(e)
    else:
        hint = "It must be a callable returning a requests.Session."
    if not callable(factory):
        messages.append(Error('BFF["BACKCHANNEL_SESSION"] is not a usable callable.', hint=hint, id="django_bff.E007"))
    messages += _check_verify(user, "BACKCHANNEL_VERIFY", "the token service", "W007", "E016")
    messages += _check_cert(user, "BACKCHANNEL_CLIENT_CERT", "E030")
    return messages


def _check_cert(user: dict[str, Any], name: str, error_id: str) -> list[CheckMessage]:
    """A TLS client certificate setting: None, a PEM path, or a (certificate, key) pair of paths."""
    cert = _value(user, name)
    if cert is None:
        return []
    paths = (
        [cert] if isinstance(cert, str) else list(cert) if isinstance(cert, (list, tuple)) and len(cert) == 2 else None
    )
    if paths is None or not all(isinstance(p, str) and os.path.exists(p) for p in paths):
        return [
            Error(
                f'BFF["{name}"] must name existing files.',
                hint="A PEM path, or a (certificate, key) pair of paths.",
                id=f"django_bff.{error_id}",
            )
        ]
    return []


def _check_verify(user: dict[str, Any], name: str, what: str, warning_id: str, error_id: str) -> list[CheckMessage]:
    """A TLS verification setting: True, a CA bundle path, or False (a warning)."""
    verify = _value(user, name)
    if verify is False:
        return [
            Warning(
                f"TLS certificates of {what} are not verified.",
                hint=f'Set BFF["{name}"] to True or to a CA bundle path.',
                id=f"django_bff.{warning_id}",
            )
        ]
    if not (verify is True or (isinstance(verify, str) and os.path.exists(verify))):
        return [
            Error(
                f'BFF["{name}"] must be True, False or a CA bundle path.',
                hint=f"Got {verify!r}.",
                id=f"django_bff.{error_id}",
            )
        ]
    return []


def _check_encryption(user: dict[str, Any]) -> list[CheckMessage]:
    keys = _value(user, "TOKEN_ENCRYPTION_KEYS")
    if keys is None:
        return []
    hint = "Give a non-empty list of keys from cryptography's Fernet.generate_key()."
    if not isinstance(keys, (list, tuple)) or not keys:
        return [Error('BFF["TOKEN_ENCRYPTION_KEYS"] must be a list of Fernet keys.', hint=hint, id="django_bff.E008")]
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return [Error('BFF["TOKEN_ENCRYPTION_KEYS"] holds an invalid key.', hint=hint, id="django_bff.E008")]
    return []


def _check_cache(user: dict[str, Any]) -> list[CheckMessage]:
    alias = _value(user, "CACHE")
    caches = getattr(settings, "CACHES", {})
    if alias not in caches:
        return [
            Error(
                f'BFF["CACHE"] names an unknown cache {alias!r}.',
                hint="Use an alias from CACHES.",
                id="django_bff.E012",
            )
        ]
    backend = str(caches[alias].get("BACKEND", ""))
    if backend.endswith("DummyCache"):
        return [
            Error(
                'BFF["CACHE"] is a DummyCache: refreshes would not be locked.',
                hint="Use Redis (django-redis) or at least the local-memory cache.",
                id="django_bff.E013",
            )
        ]
    if backend.endswith("LocMemCache"):
        return [
            Warning(
                'BFF["CACHE"] is process-local: refreshes lock per process only.',
                hint="With several worker processes, use Redis (django-redis).",
                id="django_bff.W005",
            )
        ]
    return []


#: Cache backends talking to Redis, and the OPTIONS that bound their socket waits.
_REDIS_TIMEOUT_OPTIONS = {
    "django_redis.cache.RedisCache": ("SOCKET_CONNECT_TIMEOUT", "SOCKET_TIMEOUT"),
    "django.core.cache.backends.redis.RedisCache": ("socket_connect_timeout", "socket_timeout"),
}


def _bff_cache_aliases(user: dict[str, Any]) -> list[str]:
    """The cache aliases django_bff uses: BFF["CACHE"], the stores' and the session engine's."""
    aliases = [_value(user, "CACHE")]
    for setting, backend in (
        ("USER_TOKEN_STORE", "CacheTokenStore"),
        ("SESSION_INDEX", "CacheSessionIndex"),
    ):
        config = _value(user, setting)
        if isinstance(config, dict) and str(config.get("BACKEND", "")).endswith(backend):
            options = config.get("OPTIONS") or {}
            aliases.append(options.get("CACHE") or _value(user, "CACHE"))
    if settings.SESSION_ENGINE.endswith((".cache", ".cached_db")):
        aliases.append(getattr(settings, "SESSION_CACHE_ALIAS", "default"))
    return list(dict.fromkeys(a for a in aliases if isinstance(a, str)))


def _check_cache_timeouts(user: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    caches = getattr(settings, "CACHES", {})
    for alias in _bff_cache_aliases(user):
        config = caches.get(alias)
        if not isinstance(config, dict):
            continue
        names = _REDIS_TIMEOUT_OPTIONS.get(str(config.get("BACKEND", "")))
        options = config.get("OPTIONS") or {}
        if names and not all(isinstance(options, dict) and options.get(name) for name in names):
            messages.append(
                Warning(
                    f"The Redis cache {alias!r} has no socket timeouts.",
                    hint=f"A hung Redis would hang every worker: set OPTIONS {names[0]} and {names[1]} (e.g. 1).",
                    id="django_bff.W017",
                )
            )
    return messages


_CALLBACK = "django_bff.views.OIDCCallbackView"


def _check_callback() -> list[CheckMessage]:
    from django_bff.views import OIDCCallbackView

    path = getattr(settings, "OIDC_CALLBACK_CLASS", "mozilla_django_oidc.views.OIDCAuthenticationCallbackView")
    try:
        mounted = import_string(path)
    except ImportError:
        mounted = None
    if isinstance(mounted, type) and issubclass(mounted, OIDCCallbackView):
        return []
    return [
        Warning(
            "The OIDC callback can be used to log users out (logout CSRF).",
            hint=f'Set OIDC_CALLBACK_CLASS = "{_CALLBACK}" (or a subclass).',
            id="django_bff.W018",
        )
    ]


def _check_oidc() -> list[CheckMessage]:
    from django_bff.conf import bff_settings

    messages: list[CheckMessage] = []
    backends = getattr(settings, "AUTHENTICATION_BACKENDS", [])
    if not any(_is_bff_backend(b) for b in backends):
        messages.append(
            Error(
                "No BFFAuthenticationBackend in AUTHENTICATION_BACKENDS.",
                hint=f'Add "{_BACKEND}" (or a subclass) so logins keep their tokens.',
                id="django_bff.E011",
            )
        )
    required = ["OIDC_RP_CLIENT_ID", "OIDC_OP_AUTHORIZATION_ENDPOINT"]
    if not bff_settings.AUTHORITY:
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
    if algo.startswith("HS"):
        messages.append(
            Warning(
                f"OIDC_RP_SIGN_ALGO is {algo}: tokens are checked with the client secret.",
                hint='Providers sign with RS256 or ES256: set OIDC_RP_SIGN_ALGO = "RS256".',
                id="django_bff.W002",
            )
        )
    elif not (
        getattr(settings, "OIDC_OP_JWKS_ENDPOINT", None)
        or getattr(settings, "OIDC_RP_IDP_SIGN_KEY", None)
        or bff_settings.AUTHORITY
    ):
        messages.append(
            Error(
                f"{algo} needs the provider's keys: no JWKS endpoint is set.",
                hint='Set OIDC_OP_JWKS_ENDPOINT or BFF["AUTHORITY"].',
                id="django_bff.E017",
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


def _is_bff_backend(path: str) -> bool:
    from django_bff.auth import BFFAuthenticationBackend

    try:
        backend = import_string(path)
    except ImportError:
        return False
    return isinstance(backend, type) and issubclass(backend, BFFAuthenticationBackend)


_ROUTE_KEYS = {
    "PREFIX",
    "TARGET",
    "TOKEN_TYPE",
    "OPTIONAL",
    "RETRIEVER",
    "CLIENT",
    "ANTIFORGERY",
    "REQUIRE_AUTHENTICATION",
    "ALLOW_INSECURE",
    "FORWARD_HEADERS",
}
_HEADER_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _check_retriever(value: Any, where: str, check_id: str) -> list[CheckMessage]:
    from django_bff.exceptions import BFFImproperlyConfigured
    from django_bff.retrievers import resolve_retriever_class

    try:
        resolve_retriever_class(value)
    except BFFImproperlyConfigured as e:
        return [Error(f"{where}: the retriever is not usable.", hint=str(e), id=check_id)]
    return []


def _check_routes(user: dict[str, Any]) -> list[CheckMessage]:
    from django_bff.exceptions import BFFImproperlyConfigured
    from django_bff.proxy.headers import validate_forward_headers
    from django_bff.proxy.paths import _validate_target
    from django_bff.tokens import TokenType

    routes = _value(user, "REMOTE_APIS")
    hint = 'Each entry: {"PREFIX": "api/x/", "TARGET": "https://...", ...}; see docs/proxy.'
    if not isinstance(routes, (list, tuple)):
        return [Error('BFF["REMOTE_APIS"] must be a list of dicts.', hint=hint, id="django_bff.E018")]
    messages: list[CheckMessage] = []
    seen: set[str] = set()
    allow_default = _value(user, "ALLOW_INSECURE_UPSTREAMS")
    clients = _value(user, "CLIENTS")
    known_clients = {"default"} | (set(clients) if isinstance(clients, dict) else set())
    for index, route in enumerate(routes):
        where = f'BFF["REMOTE_APIS"][{index}]'
        if not isinstance(route, dict) or not {"PREFIX", "TARGET"} <= set(route) or set(route) - _ROUTE_KEYS:
            messages.append(Error(f"{where} is malformed.", hint=hint, id="django_bff.E018"))
            continue
        prefix = route["PREFIX"]
        if not isinstance(prefix, str) or prefix.startswith("/"):
            messages.append(Error(f"{where}: PREFIX must be a relative path.", hint=hint, id="django_bff.E018"))
        elif prefix.rstrip("/") + "/" in seen:
            messages.append(Error(f"{where}: PREFIX {prefix!r} is used twice.", hint=hint, id="django_bff.E018"))
        else:
            seen.add(prefix.rstrip("/") + "/")
        try:
            TokenType(route.get("TOKEN_TYPE", TokenType.USER))
        except ValueError:
            messages.append(
                Error(
                    f"{where}: unknown TOKEN_TYPE.",
                    hint="One of user, client, user_or_client, none.",
                    id="django_bff.E018",
                )
            )
        flags = [
            k
            for k in ("OPTIONAL", "ANTIFORGERY", "REQUIRE_AUTHENTICATION")
            if not isinstance(route.get(k, False), bool)
        ]
        if route.get("ALLOW_INSECURE") is not None and not isinstance(route["ALLOW_INSECURE"], bool):
            flags.append("ALLOW_INSECURE")
        if flags:
            messages.append(
                Error(f"{where}: {', '.join(flags)} must be True or False.", hint=hint, id="django_bff.E018")
            )
        insecure = route.get("ALLOW_INSECURE")
        try:
            _validate_target(route["TARGET"], insecure if insecure is not None else allow_default)
        except BFFImproperlyConfigured as e:
            messages.append(Error(f"{where}: TARGET is not allowed.", hint=str(e), id="django_bff.E019"))
        if route.get("RETRIEVER") is not None:
            messages += _check_retriever(route["RETRIEVER"], where, "django_bff.E021")
        if route.get("CLIENT", "default") not in known_clients:
            messages.append(
                Error(
                    f"{where}: unknown CLIENT {route['CLIENT']!r}.",
                    hint='Name "default" or a client of BFF["CLIENTS"].',
                    id="django_bff.E022",
                )
            )
        if route.get("FORWARD_HEADERS") is not None:
            antiforgery = _value(user, "ANTIFORGERY_HEADER")
            try:
                validate_forward_headers(route["FORWARD_HEADERS"], antiforgery if isinstance(antiforgery, str) else "")
            except BFFImproperlyConfigured as e:
                messages.append(Error(f"{where}: FORWARD_HEADERS is not allowed.", hint=str(e), id="django_bff.E038"))
    return messages


def _check_clients(user: dict[str, Any]) -> list[CheckMessage]:
    from django_bff.clients import AUTH_METHODS, CLIENT_KEYS

    clients = _value(user, "CLIENTS")
    hint = 'BFF["CLIENTS"] = {"name": {"CLIENT_ID": ..., "CLIENT_SECRET": ..., ...}}; see docs/clients.'
    if not isinstance(clients, dict):
        return [Error('BFF["CLIENTS"] must be a dict of clients.', hint=hint, id="django_bff.E025")]
    messages: list[CheckMessage] = []
    for name, entry in clients.items():
        where = f'BFF["CLIENTS"][{name!r}]'
        if not isinstance(entry, dict) or not entry.get("CLIENT_ID") or set(entry) - CLIENT_KEYS:
            messages.append(Error(f"{where} is malformed.", hint=hint, id="django_bff.E025"))
            continue
        method = entry.get("AUTH_METHOD", "client_secret_basic")
        if method not in AUTH_METHODS:
            messages.append(
                Error(
                    f"{where}: unknown AUTH_METHOD {method!r}.",
                    hint="One of: " + ", ".join(sorted(AUTH_METHODS)) + ".",
                    id="django_bff.E026",
                )
            )
        elif (
            method == "private_key_jwt"
            and _value(user, "CLIENT_ASSERTION_SERVICE") is None
            and entry.get("ASSERTION_SERVICE") is None
        ):
            messages.append(
                Error(
                    f"{where}: private_key_jwt needs an assertion service.",
                    hint='Set BFF["CLIENT_ASSERTION_SERVICE"] (docs/client-assertions).',
                    id="django_bff.E029",
                )
            )
        elif method == "tls_client_auth" and not _value(user, "BACKCHANNEL_CLIENT_CERT"):
            messages.append(
                Error(
                    f"{where}: tls_client_auth needs a client certificate.",
                    hint='Set BFF["BACKCHANNEL_CLIENT_CERT"] (docs/clients).',
                    id="django_bff.E031",
                )
            )
        elif method in ("client_secret_basic", "client_secret_post") and not entry.get("CLIENT_SECRET"):
            messages.append(
                Error(f"{where}: {method} needs a CLIENT_SECRET.", hint="Set CLIENT_SECRET.", id="django_bff.E027")
            )
        for key in ("ISSUER", "TOKEN_ENDPOINT"):
            value = entry.get(key)
            parts = urlsplit(value) if isinstance(value, str) else None
            if value is not None and (parts is None or parts.scheme not in ("http", "https") or not parts.netloc):
                messages.append(
                    Error(
                        f"{where}: {key} must be an absolute http(s) URL.", hint=f"Got {value!r}.", id="django_bff.E025"
                    )
                )
    return messages


def _check_assertions(user: dict[str, Any]) -> list[CheckMessage]:
    from django_bff.assertions import build_assertion_service
    from django_bff.exceptions import BFFImproperlyConfigured

    configs = [('BFF["CLIENT_ASSERTION_SERVICE"]', _value(user, "CLIENT_ASSERTION_SERVICE"))]
    clients = _value(user, "CLIENTS")
    if isinstance(clients, dict):
        for name, entry in clients.items():
            if isinstance(entry, dict) and entry.get("ASSERTION_SERVICE") is not None:
                configs.append((f'BFF["CLIENTS"][{name!r}]["ASSERTION_SERVICE"]', entry["ASSERTION_SERVICE"]))
    messages: list[CheckMessage] = []
    for where, config in configs:
        if config is None:
            continue
        try:
            build_assertion_service(config, where)  # reads and parses the key: a bad one fails at start-up
        except BFFImproperlyConfigured as e:
            messages.append(
                Error("A client assertion service is not usable.", hint=f"{where}: {e}"[:300], id="django_bff.E028")
            )
    return messages


def _check_endpoints(user: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    base = _value(user, "BASE_PATH")
    if not isinstance(base, str) or base.startswith("/") or (base and not base.endswith("/")):
        messages.append(
            Error(
                'BFF["BASE_PATH"] must be a relative path ending in "/".',
                hint=f'Got {base!r}; e.g. "bff/".',
                id="django_bff.E032",
            )
        )
    origins = _value(user, "ALLOWED_RETURN_ORIGINS")
    if not isinstance(origins, (list, tuple)):
        origins = [None]  # a string would be read character by character
    for origin in origins:
        parts = urlsplit(origin) if isinstance(origin, str) else None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username
        ):
            messages.append(
                Error(
                    'BFF["ALLOWED_RETURN_ORIGINS"] holds something not an origin.',
                    hint=f'Got {origin!r}; write origins like "https://app.example.com".',
                    id="django_bff.E033",
                )
            )
    return messages


def _check_proxy(user: dict[str, Any]) -> list[CheckMessage]:
    messages = _check_routes(user) + _check_clients(user) + _check_assertions(user) + _check_endpoints(user)
    patterns = _value(user, "ACCESS_TOKEN_RETRIEVERS")
    hint = 'Each entry: {"PATTERN": regex, "RETRIEVER": "dotted.path"}.'
    if not isinstance(patterns, (list, tuple)):
        messages.append(Error('BFF["ACCESS_TOKEN_RETRIEVERS"] must be a list.', hint=hint, id="django_bff.E020"))
    else:
        for index, entry in enumerate(patterns):
            where = f'BFF["ACCESS_TOKEN_RETRIEVERS"][{index}]'
            if not isinstance(entry, dict) or set(entry) != {"PATTERN", "RETRIEVER"}:
                messages.append(Error(f"{where} is malformed.", hint=hint, id="django_bff.E020"))
                continue
            try:
                re.compile(entry["PATTERN"])
            except (re.error, TypeError) as e:
                messages.append(Error(f"{where}: PATTERN is not a regex.", hint=str(e), id="django_bff.E020"))
            messages += _check_retriever(entry["RETRIEVER"], where, "django_bff.E020")
    name, value = _value(user, "ANTIFORGERY_HEADER"), _value(user, "ANTIFORGERY_VALUE")
    if not (isinstance(name, str) and _HEADER_TOKEN.match(name)) or not (isinstance(value, str) and value.strip()):
        messages.append(
            Error(
                "The anti-forgery header name or value is invalid.",
                hint="ANTIFORGERY_HEADER must be a header name, ANTIFORGERY_VALUE a non-empty string.",
                id="django_bff.E023",
            )
        )
    limit = _value(user, "MAX_REQUEST_BODY")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        messages.append(
            Error(
                'BFF["MAX_REQUEST_BODY"] must be None or an integer >= 0.', hint=f"Got {limit!r}.", id="django_bff.E005"
            )
        )
    messages += _check_verify(user, "PROXY_VERIFY", "remote APIs", "W009", "E024")
    messages += _check_cert(user, "PROXY_CLIENT_CERT", "E024")
    return messages


def _check_sessions(user: dict[str, Any]) -> list[CheckMessage]:
    from django_bff.exceptions import BFFImproperlyConfigured
    from django_bff.sessions import get_session_index

    messages: list[CheckMessage] = []
    try:
        get_session_index()
    except BFFImproperlyConfigured as e:
        messages.append(Error('BFF["SESSION_INDEX"] is not usable.', hint=str(e)[:300], id="django_bff.E034"))
    anonymous = _value(user, "ANONYMOUS_SESSION_RESPONSE")
    if anonymous not in (401, 200) or isinstance(anonymous, bool):
        messages.append(
            Error(
                'BFF["ANONYMOUS_SESSION_RESPONSE"] must be 401 or 200.',
                hint=f"Got {anonymous!r}; 200 answers null to anonymous users.",
                id="django_bff.E035",
            )
        )
    for name, nullable in (("USER_CLAIMS", True), ("USER_CLAIMS_EXCLUDED", False)):
        value = _value(user, name)
        if (value is None and nullable) or (
            isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        ):
            continue
        messages.append(
            Error(
                f'BFF["{name}"] must be a list of claim names.',
                hint=f"Got {value!r}." + (" None shows every claim." if nullable else ""),
                id="django_bff.E036",
            )
        )
    algorithms = _value(user, "BACKCHANNEL_LOGOUT_ALGORITHMS")
    if (
        not isinstance(algorithms, (list, tuple))
        or not algorithms
        or not all(isinstance(a, str) and a in _LOGOUT_ALGORITHMS for a in algorithms)
    ):
        messages.append(
            Error(
                'BFF["BACKCHANNEL_LOGOUT_ALGORITHMS"] has an unusable algorithm.',
                hint=f"Use some of {', '.join(sorted(_LOGOUT_ALGORITHMS))} (never none or HS*).",
                id="django_bff.E037",
            )
        )
    if not _value(user, "AUTHORITY"):
        messages.append(
            Warning(
                'Back-channel logout needs BFF["AUTHORITY"] to check "iss".',
                hint="Set it to the provider's issuer; until then /bff/backchannel answers 400.",
                id="django_bff.W016",
            )
        )
    return messages


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
