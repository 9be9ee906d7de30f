"""What every concern of the system checks shares: ``settings.BFF`` read safely, and problems made messages.

In the data flow: each concern (:mod:`django_bff.checks`) reads the user's
dict with :func:`bff_dict` (None when ``settings.BFF`` is not a dict, which the
check of values alone reports, as ``django_bff.E001``) and turns the
:class:`~django_bff.conf.problems.Problem` values that the declarations and
parsers find into Django's check messages with :func:`to_messages`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from django_bff.conf.problems import Problem

__all__ = ["bff_dict", "to_messages", "TAG"]

#: The tag of the concerns that are neither security, caches nor URLs.
TAG = "django_bff"


def bff_dict() -> dict[str, object] | None:
    """``settings.BFF``, or None when it is not a dict."""
    value = getattr(settings, "BFF", {})
    return value if isinstance(value, dict) else None


def to_messages(problems: Iterable[Problem]) -> list[CheckMessage]:
    """Errors and warnings for ``problems``, each once."""
    messages: list[CheckMessage] = []
    seen: set[tuple[str, str]] = set()
    for problem in problems:
        if (problem.id, problem.msg) in seen:
            continue
        seen.add((problem.id, problem.msg))
        kind = Error if problem.is_error else Warning
        messages.append(kind(problem.msg, hint=problem.hint, id=problem.id))
    return messages
