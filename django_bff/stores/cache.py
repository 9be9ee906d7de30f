"""Tokens in a Django cache: :class:`CacheTokenStore` (django-redis in production).

In the data flow: a :class:`~.record.RecordTokenStore` whose record is a cache entry
under the record's id; its write mutex is in the same cache.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.checks import CheckMessage
from django.core.checks import Error as CheckError
from django.http import HttpRequest

from django_bff.conf import bff_settings
from django_bff.stores.record import RecordTokenStore

__all__ = ["CacheTokenStore"]


class CacheTokenStore(RecordTokenStore):
    """Tokens in a Django cache (django-redis in production), encrypted, keyed by session.

    OPTIONS: ``CACHE`` (alias, default ``BFF["CACHE"]``), ``KEY_PREFIX``
    (default ``"bff:tokens:"``).
    """

    def __init__(self, *, CACHE: str | None = None, KEY_PREFIX: str = "bff:tokens:", **options: Any) -> None:  # noqa: N803
        super().__init__(**options)
        self.cache_alias = CACHE
        self.key_prefix = KEY_PREFIX

    @property
    def cache(self) -> BaseCache:
        return caches[self.cache_alias or bff_settings.CACHE]

    def mutex_cache(self) -> BaseCache:
        return self.cache

    def on_tokens_visible(self, request: HttpRequest, callback: Any) -> None:
        callback()  # a cache write is read by everybody at once

    def read_record(self, ref: str) -> dict[str, Any] | None:
        value = self.cache.get(self.key_prefix + ref)
        return value if isinstance(value, dict) else None

    def write_record(self, ref: str, record: dict[str, Any], lifetime: int, exists: bool) -> None:
        self.cache.set(self.key_prefix + ref, record, lifetime)

    def delete_record(self, ref: str) -> None:
        self.cache.delete(self.key_prefix + ref)

    def check(self) -> list[CheckMessage]:
        alias = self.cache_alias or bff_settings.CACHE
        if alias not in settings.CACHES:
            return [
                CheckError(
                    f"CacheTokenStore names an unknown cache {alias!r}.",
                    hint='Set BFF["USER_TOKEN_STORE"]["OPTIONS"]["CACHE"] to an alias in CACHES.',
                    id="django_bff.E014",
                )
            ]
        return []
