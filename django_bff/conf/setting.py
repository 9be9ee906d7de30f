"""A setting, declared once: the descriptor every kind of setting is.

In the data flow: :mod:`django_bff.conf.declared` declares each setting of
``settings.BFF`` once, as an instance of a kind (:mod:`django_bff.conf.kinds`,
:mod:`django_bff.conf.references`) that subclasses :class:`Setting`: name,
default, type, validation, check id and doc line. As a descriptor it types
``bff_settings.NAME``; reading checks the user's value has the declared type
once per settings reload and keeps it on the settings object (a value of
another type raises :class:`~django_bff.conf.problems.InvalidSetting` instead
of reaching the code; a value of the right type that the checks refuse, such as
a negative timeout, is reported by the checks and read as it is, so that the
runtime's own guards still apply to it). The system checks (:mod:`django_bff.checks`) call :meth:`Setting.check`
on the raw value and report every :class:`~django_bff.conf.problems.Problem`;
``docs/settings.rst`` is generated from the same declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, Protocol, Self, TypedDict, TypeVar, Unpack, cast, overload

from django_bff.conf.problems import Problem

__all__ = ["Setting", "Options", "SettingsHolder"]

T = TypeVar("T", covariant=True)


class SettingsHolder(Protocol):
    """What a setting is read from: ``settings.BFF`` as a mapping (:class:`~django_bff.conf.BFFSettings`)."""

    @property
    def user_settings(self) -> Mapping[str, object]: ...


class Options(TypedDict, total=False):
    """What a declaration may add: its own check id, the other checks of the setting, a hint's note, docs words."""

    check_id: str
    see: tuple[str, ...]
    note: str
    type_doc: str
    default_doc: str


class Setting(Generic[T]):
    """One setting, declared once: name (the attribute's), default, type, validation, check id, doc line.

    ``doc`` is the line that opens the setting's section in
    ``docs/settings.rst``; ``see`` names the other checks that concern the
    setting (its own, :attr:`check_id`, comes first); ``note`` ends the hint.
    A kind says what a valid value is (:meth:`valid` and :attr:`must_be`) and
    how the settings page words its type (:attr:`type_doc`).
    """

    #: The id of the check that refuses a bad value, unless the declaration gives its own.
    default_id = ""
    #: "must be ..." in the check's message.
    must_be = ""
    #: How ``docs/settings.rst`` words the type.
    type_doc = ""
    #: True when the system check of the setting's concern checks it whole (a backend it makes, a
    #: structured setting it parses), so that the check of plain values leaves it alone.
    own_concern = False

    def __init__(self, default: object, doc: str, **options: Unpack[Options]) -> None:
        self.default = default
        self.doc = doc
        self.check_id = options.get("check_id", self.default_id)
        self.see = options.get("see", ())
        self.note = options.get("note", "")
        self.type_doc = options.get("type_doc", self.type_doc)
        #: How the settings page shows the default, when its literal would not read well.
        self.default_doc = options.get("default_doc", "")
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, holder: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, holder: SettingsHolder, owner: type | None = None) -> T: ...

    def __get__(self, holder: SettingsHolder | None, owner: type | None = None) -> Self | T:
        if holder is None:
            return self
        value = self.read(holder.user_settings)
        # Kept on the instance until reload() empties its __dict__: the next read is a plain attribute.
        vars(holder)[self.name] = value
        return value

    @property
    def where(self) -> str:
        return f'BFF["{self.name}"]'

    @property
    def check_ids(self) -> tuple[str, ...]:
        """Every check that concerns the setting: its own first."""
        return (self.check_id, *self.see)

    # --- validation --------------------------------------------------------------------------

    def valid(self, value: object) -> bool:
        raise NotImplementedError("subclasses of Setting must provide a valid() method")

    def typed(self, value: object) -> bool:
        """Whether ``value`` has the declared type (what reading requires); :meth:`valid` by default."""
        return self.valid(value)

    def check(self, value: object) -> list[Problem]:
        """The problems of ``value`` (none when it is valid), each with this setting's check id."""
        if self.valid(value):
            return []
        return [Problem(self.check_id, f"{self.where} must be {self.must_be}.", self.hint(value))]

    def hint(self, value: object) -> str:
        return " ".join(filter(None, [f"Got {value!r}.", self.note]))

    # --- reading -----------------------------------------------------------------------------

    def convert(self, value: object) -> T:
        """``value``, which :meth:`typed` accepted, as the setting's type."""
        return cast(T, value)  # typed() accepted it, so it has the declared type

    def read(self, user: Mapping[str, object]) -> T:
        """The value in ``user`` (``settings.BFF``), or the default; InvalidSetting when its type is wrong."""
        value = user.get(self.name, self.default)
        if not self.typed(value):
            errors = [p for p in self.check(value) if p.is_error]
            problem = errors[0] if errors else Problem(self.check_id, f"{self.where} must be {self.must_be}.", "")
            raise problem.error()
        return self.convert(value)

    def value_or_default(self, user: Mapping[str, object]) -> T:
        """The value in ``user`` if it is valid, else the default: for checks that build on other settings."""
        value = user.get(self.name, self.default)
        if any(p.is_error for p in self.check(value)):
            value = self.default
        return self.convert(value)
