"""The kinds of plain setting: numbers, flags, URLs and text, each validated and typed.

In the data flow: :mod:`django_bff.conf.declared` declares the settings with
these kinds (and those of :mod:`django_bff.conf.references`); each is a
:class:`~django_bff.conf.setting.Setting` that says what a valid value is, the
check id that refuses another, and how the settings page words its type.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Unpack, cast
from urllib.parse import urlsplit

from django.conf import settings

from django_bff.conf.problems import Problem
from django_bff.conf.setting import Options, Setting

__all__ = [
    "Number",
    "Integer",
    "OptionalInteger",
    "Flag",
    "OptionalFlag",
    "Choice",
    "Url",
    "CacheAlias",
    "Text",
    "RelativePath",
    "Origins",
    "NameList",
    "OptionalNameList",
    "Algorithms",
    "is_http_url",
]


def is_http_url(value: object) -> bool:
    """An absolute ``http``/``https`` URL with a host."""
    parts = urlsplit(value) if isinstance(value, str) else None
    return parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc)


def _number_at_least(value: object, minimum: float, exclusive: bool, integer: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return False
    return value > minimum if exclusive else value >= minimum


class Number(Setting[float]):
    """A number (``int`` or ``float``, never a ``bool``) at least, or above, ``minimum``."""

    default_id = "django_bff.E005"

    def __init__(
        self,
        default: float,
        doc: str,
        *,
        minimum: float = 0,
        exclusive: bool = False,
        unit: str = "seconds",
        **options: Unpack[Options],
    ) -> None:
        super().__init__(default, doc, **options)
        self.minimum, self.exclusive = minimum, exclusive
        self.must_be = f"a number {'>' if exclusive else '>='} {minimum}"
        self.type_doc = self.type_doc or (f"{self.must_be} ({unit})" if unit else self.must_be)

    def typed(self, value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    def valid(self, value: object) -> bool:
        return _number_at_least(value, self.minimum, self.exclusive, integer=False)


class Integer(Setting[int]):
    """An ``int`` (never a ``bool``) at least ``minimum``."""

    default_id = "django_bff.E005"

    def __init__(self, default: int, doc: str, *, minimum: int = 0, unit: str = "", **options: Unpack[Options]) -> None:
        super().__init__(default, doc, **options)
        self.minimum = minimum
        self.must_be = f"an integer >= {minimum}"
        self.type_doc = self.type_doc or (f"{self.must_be} ({unit})" if unit else self.must_be)

    def typed(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def valid(self, value: object) -> bool:
        return _number_at_least(value, self.minimum, False, integer=True)


class OptionalInteger(Setting[int | None]):
    """``None`` (no limit) or an ``int`` at least ``minimum``."""

    default_id = "django_bff.E005"

    def __init__(
        self, default: int | None, doc: str, *, minimum: int = 0, unit: str = "", **options: Unpack[Options]
    ) -> None:
        super().__init__(default, doc, **options)
        self.minimum = minimum
        self.must_be = f"None or an integer >= {minimum}"
        self.type_doc = self.type_doc or (f"``None`` or an integer >= {minimum} ({unit})")

    def typed(self, value: object) -> bool:
        return value is None or (isinstance(value, int) and not isinstance(value, bool))

    def valid(self, value: object) -> bool:
        return value is None or _number_at_least(value, self.minimum, False, integer=True)


class Flag(Setting[bool]):
    """``True`` or ``False``: ``1`` or ``"yes"`` are refused, not read for their truth."""

    default_id = "django_bff.E006"
    must_be = "True or False"
    type_doc = "bool"

    def valid(self, value: object) -> bool:
        return isinstance(value, bool)


class OptionalFlag(Setting[bool | None]):
    """``None`` (follow something else), ``True`` or ``False``."""

    must_be = "None, True or False"
    type_doc = "``None``, ``True`` or ``False``"

    def valid(self, value: object) -> bool:
        return value is None or isinstance(value, bool)


class Choice(Setting[int]):
    """One of a few integers."""

    def __init__(self, default: int, doc: str, *, choices: tuple[int, ...], **options: Unpack[Options]) -> None:
        super().__init__(default, doc, **options)
        self.choices = choices
        self.must_be = " or ".join(str(c) for c in choices)
        self.type_doc = self.type_doc or "int, " + " or ".join(f"``{c}``" for c in choices)

    def typed(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def valid(self, value: object) -> bool:
        return not isinstance(value, bool) and value in self.choices


# --- text ----------------------------------------------------------------------------------------


class Url(Setting[str | None]):
    """``None`` or an absolute ``http``/``https`` URL."""

    default_id = "django_bff.E015"
    must_be = "an absolute http(s) URL"
    type_doc = "``None`` or an absolute ``http``/``https`` URL"

    def typed(self, value: object) -> bool:
        return value is None or isinstance(value, str)  # "" reads as unset, as None does

    def valid(self, value: object) -> bool:
        return value is None or is_http_url(value)


class CacheAlias(Setting[str]):
    """An alias of Django's ``CACHES``."""

    default_id = "django_bff.E012"
    type_doc = "str, an alias in ``CACHES``"

    def typed(self, value: object) -> bool:
        return isinstance(value, str)

    def valid(self, value: object) -> bool:
        return isinstance(value, str) and value in getattr(settings, "CACHES", {})

    def check(self, value: object) -> list[Problem]:
        if self.valid(value):
            return []
        return [Problem(self.check_id, f"{self.where} names an unknown cache {value!r}.", "Use an alias from CACHES.")]


class Text(Setting[str]):
    """A string matching ``pattern``, with a message of its own when it does not."""

    def __init__(
        self, default: str, doc: str, *, pattern: str, message: str, hint: str, **options: Unpack[Options]
    ) -> None:
        super().__init__(default, doc, **options)
        self.pattern = re.compile(pattern)
        self.message, self.fixed_hint = message, hint

    def typed(self, value: object) -> bool:
        return isinstance(value, str)

    def valid(self, value: object) -> bool:
        return isinstance(value, str) and self.pattern.fullmatch(value) is not None

    def check(self, value: object) -> list[Problem]:
        return [] if self.valid(value) else [Problem(self.check_id, self.message, self.fixed_hint)]


class RelativePath(Setting[str]):
    """A URL path relative to where ``django_bff.urls`` is included: ``""`` or ending in ``/``."""

    must_be = 'a relative path ending in "/"'
    type_doc = 'str, a relative path ending in ``/`` (or ``""``)'

    def typed(self, value: object) -> bool:
        return isinstance(value, str)

    def valid(self, value: object) -> bool:
        return isinstance(value, str) and not value.startswith("/") and (not value or value.endswith("/"))


def _is_origin(value: object) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return (
        parts is not None
        and parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not (parts.query or parts.fragment or parts.username)
    )


class Origins(Setting[Sequence[str]]):
    """A list of origins (``"https://app.example.com"``): one problem per entry that is not one."""

    type_doc = "list of origins"

    def typed(self, value: object) -> bool:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)

    def valid(self, value: object) -> bool:
        return not self.check(value)

    def check(self, value: object) -> list[Problem]:
        # Not a list: one problem, whatever it holds (a string would be read character by character).
        entries = value if isinstance(value, (list, tuple)) else [None]
        return [
            Problem(
                self.check_id,
                f"{self.where} holds something not an origin.",
                f'Got {value if entry is None else entry!r}; write origins like "https://app.example.com".',
            )
            for entry in entries
            if not _is_origin(entry)
        ]


def _is_name_list(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


class NameList(Setting[Sequence[str]]):
    """A list of strings (a plain string would be read character by character)."""

    must_be = "a list of claim names"
    type_doc = "list of str"

    def valid(self, value: object) -> bool:
        return _is_name_list(value)


class OptionalNameList(Setting[Sequence[str] | None]):
    """``None`` or a list of strings."""

    must_be = "a list of claim names"
    type_doc = "list of str, or None"

    def valid(self, value: object) -> bool:
        return value is None or _is_name_list(value)


class Algorithms(Setting[Sequence[str]]):
    """A non-empty list of some of ``allowed`` (JWS algorithm names)."""

    def __init__(self, allowed: tuple[str, ...], doc: str, **options: Unpack[Options]) -> None:
        super().__init__(list(allowed), doc, **options)
        self.allowed = allowed

    type_doc = "list of str"

    def typed(self, value: object) -> bool:
        return _is_name_list(value)  # the runtime refuses none and HS* whatever the setting says

    def valid(self, value: object) -> bool:
        return _is_name_list(value) and bool(value) and all(a in self.allowed for a in cast(list[str], value))

    def check(self, value: object) -> list[Problem]:
        if self.valid(value):
            return []
        hint = f"Use some of {', '.join(sorted(self.allowed))} (never none or HS*)."
        return [Problem(self.check_id, f"{self.where} has an unusable algorithm.", hint)]
