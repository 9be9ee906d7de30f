"""The check of the caches django_bff relies on: a real one for the locks, with socket timeouts for Redis.

In the data flow: a concern of :mod:`django_bff.checks`, tagged ``caches``.
``BFF["CACHE"]`` holds the refresh locks that every process shares: a
``DummyCache`` locks nothing (``E013``), a local-memory cache locks per
process (``W005``). Every Redis cache django_bff uses (the locks', the stores',
the session engine's) needs socket timeouts, or a hung Redis hangs every
worker (``W017``). An unknown alias is the check of values' (``E012``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from django_bff.checks.messages import bff_dict
from django_bff.conf.declared import DEFAULTS, BFFSettings

__all__ = ["check_caches"]

#: Cache backends talking to Redis, and the OPTIONS that bound their socket waits.
_REDIS_TIMEOUT_OPTIONS = {
    "django_redis.cache.RedisCache": ("SOCKET_CONNECT_TIMEOUT", "SOCKET_TIMEOUT"),
    "django.core.cache.backends.redis.RedisCache": ("socket_connect_timeout", "socket_timeout"),
}


def check_caches(app_configs: Sequence[AppConfig] | None = None, **kwargs: object) -> list[CheckMessage]:
    """The lock cache locks across processes; the Redis caches in use have socket timeouts."""
    user = bff_dict()
    if user is None:
        return []
    return _check_lock_cache(user) + _check_timeouts(user)


def _check_lock_cache(user: dict[str, object]) -> list[CheckMessage]:
    config = getattr(settings, "CACHES", {}).get(BFFSettings.CACHE.value_or_default(user))
    backend = str(config.get("BACKEND", "")) if isinstance(config, dict) else ""
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


def _aliases(user: dict[str, object]) -> list[str]:
    """The cache aliases django_bff uses: BFF["CACHE"], the stores' and the session engine's."""
    lock_cache = BFFSettings.CACHE.value_or_default(user)
    aliases: list[object] = [lock_cache]
    for setting, backend in (("USER_TOKEN_STORE", "CacheTokenStore"), ("SESSION_INDEX", "CacheSessionIndex")):
        config = user.get(setting, DEFAULTS[setting])
        if isinstance(config, dict) and str(config.get("BACKEND", "")).endswith(backend):
            options = config.get("OPTIONS") or {}
            aliases.append((options.get("CACHE") if isinstance(options, dict) else None) or lock_cache)
    if settings.SESSION_ENGINE.endswith((".cache", ".cached_db")):
        aliases.append(getattr(settings, "SESSION_CACHE_ALIAS", "default"))
    return list(dict.fromkeys(a for a in aliases if isinstance(a, str)))


def _check_timeouts(user: dict[str, object]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    caches = getattr(settings, "CACHES", {})
    for alias in _aliases(user):
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
