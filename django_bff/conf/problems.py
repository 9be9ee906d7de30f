"""What is wrong with a setting, said once for the system checks and the runtime.

In the data flow: a setting's declaration (:mod:`django_bff.conf.kinds`) and
the parsers of the structured settings (``REMOTE_APIS`` in
:mod:`django_bff.proxy.routes`, ``CLIENTS`` in :mod:`django_bff.clients`,
``ACCESS_TOKEN_RETRIEVERS`` in :mod:`django_bff.retrievers`) describe each
problem they find as a :class:`Problem` carrying its check id. The system
checks (:mod:`django_bff.checks`) report every problem; the runtime raises the
first one as :class:`~django_bff.exceptions.BFFImproperlyConfigured`, or leaves
the bad entry out, so that the same words reach the user either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django_bff.exceptions import BFFImproperlyConfigured

__all__ = ["Problem", "Parsed", "InvalidSetting"]

T = TypeVar("T")


class InvalidSetting(BFFImproperlyConfigured):
    """A value of ``settings.BFF`` was read that the system checks report as an error."""

    default_code = "invalid_setting"


@dataclass(frozen=True)
class Problem:
    """One problem: its check id (``django_bff.E005``), message (under 80 characters) and hint."""

    id: str
    msg: str
    hint: str

    @property
    def is_error(self) -> bool:
        return self.id.startswith("django_bff.E")

    def __str__(self) -> str:
        return f"{self.msg} {self.hint} ({self.id})"

    def error(self) -> InvalidSetting:
        """The exception the runtime raises for it."""
        return InvalidSetting(str(self))


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """A structured setting parsed: the entries that are valid, and the problems of the others."""

    items: tuple[T, ...]
    problems: tuple[Problem, ...]

    @classmethod
    def of(cls, items: Iterable[T], problems: Iterable[Problem]) -> Parsed[T]:
        return cls(tuple(items), tuple(problems))

    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)
