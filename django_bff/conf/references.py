"""The kinds of setting that name something outside the dict: files, keys, dotted paths, backends.

In the data flow: :mod:`django_bff.conf.declared` declares the TLS files, the
encryption keys, the back-channel session factory, the backends and the
structured settings (``REMOTE_APIS``, ``CLIENTS``, ``ACCESS_TOKEN_RETRIEVERS``)
with these kinds. A structured setting's container is checked here; its
entries are parsed into frozen dataclasses next to the code that uses them
(:mod:`django_bff.proxy.routes`, :mod:`django_bff.clients`,
:mod:`django_bff.retrievers`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet

from django_bff.conf.loading import load_callable
from django_bff.conf.problems import Problem
from django_bff.conf.setting import Setting
from django_bff.exceptions import BFFImproperlyConfigured

__all__ = [
    "TLSVerify",
    "ClientCert",
    "FernetKeys",
    "ImportString",
    "Backend",
    "OptionalService",
    "ListSetting",
    "DictSetting",
    "DPOP_ALGORITHMS",
    "DPoPOptions",
    "DPoPSetting",
]


class TLSVerify(Setting[bool | str]):
    """TLS verification: ``True``, ``False`` or the path of a CA bundle that exists."""

    must_be = "True, False or a CA bundle path"
    type_doc = "``True``, ``False`` or the path of a CA bundle file"

    def typed(self, value: object) -> bool:
        return isinstance(value, (bool, str))

    def valid(self, value: object) -> bool:
        return isinstance(value, bool) or (isinstance(value, str) and os.path.exists(value))


class ClientCert(Setting[str | Sequence[str] | None]):
    """A TLS client certificate: ``None``, a PEM path, or a ``(certificate, key)`` pair of paths, all existing."""

    type_doc = "``None``, a PEM path, or a ``(certificate, key)`` pair of paths"

    def typed(self, value: object) -> bool:
        return value is None or isinstance(value, str) or _is_name_list(value)

    def valid(self, value: object) -> bool:
        if value is None:
            return True
        paths = [value] if isinstance(value, str) else value if isinstance(value, (list, tuple)) else []
        return len(paths) in (1, 2) and isinstance(value, str) == (len(paths) == 1) and _existing(paths)

    def check(self, value: object) -> list[Problem]:
        if self.valid(value):
            return []
        hint = "A PEM path, or a (certificate, key) pair of paths."
        return [Problem(self.check_id, f"{self.where} must name existing files.", hint)]


def _is_name_list(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _existing(paths: Sequence[object]) -> bool:
    return all(isinstance(p, str) and os.path.exists(p) for p in paths)


class FernetKeys(Setting[Sequence[str | bytes] | None]):
    """``None`` (keys derived from ``SECRET_KEY``) or a non-empty list of Fernet keys."""

    default_id = "django_bff.E008"
    type_doc = "``None`` or a non-empty list of Fernet keys (``str`` or ``bytes``)"

    def typed(self, value: object) -> bool:
        return value is None or (isinstance(value, (list, tuple)) and all(isinstance(k, (str, bytes)) for k in value))

    def valid(self, value: object) -> bool:
        return not self.check(value)

    def check(self, value: object) -> list[Problem]:
        if value is None:
            return []
        hint = "Give a non-empty list of keys from cryptography's Fernet.generate_key()."
        if not isinstance(value, (list, tuple)) or not value:
            return [Problem(self.check_id, f"{self.where} must be a list of Fernet keys.", hint)]
        for key in value:
            try:
                Fernet(key)
            except (ValueError, TypeError):
                return [Problem(self.check_id, f"{self.where} holds an invalid key.", hint)]
        return []


# --- dotted paths and backends -----------------------------------------------------------------


class ImportString(Setting[Callable[[], object]]):
    """A callable taking no arguments, or its dotted path (imported when read)."""

    default_id = "django_bff.E007"

    def valid(self, value: object) -> bool:
        return not self.check(value)

    def check(self, value: object) -> list[Problem]:
        try:
            load_callable(value, self.where)
        except BFFImproperlyConfigured as e:
            return [Problem(self.check_id, f"{self.where} is not a usable callable.", str(e)[:300])]
        return []

    def convert(self, value: object) -> Callable[[], object]:
        return load_callable(value, self.where)


def _is_backend(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("BACKEND"), str)
        and isinstance(value.get("OPTIONS", {}) or {}, Mapping)
    )


class Backend(Setting[Mapping[str, object]]):
    """``{"BACKEND": "<dotted path>", "OPTIONS": {...}}``, like Django's ``STORAGES``.

    The value is checked for its shape here; :func:`~django_bff.conf.loading.make_backend`
    imports and makes the backend, and the system check of its concern makes one
    to report what the constructor refuses, under the same id.
    """

    own_concern = True

    type_doc = 'dict: ``{"BACKEND": "<dotted path>", "OPTIONS": {...}}``'
    must_be = 'a dict with a "BACKEND" dotted path'

    def valid(self, value: object) -> bool:
        return _is_backend(value)

    def check(self, value: object) -> list[Problem]:
        if self.valid(value):
            return []
        hint = f'{self.where} must be a dict with a "BACKEND" dotted path.'
        return [Problem(self.check_id, f"{self.where} is not usable.", hint)]


class OptionalService(Setting[str | Mapping[str, object] | None]):
    """``None``, a dotted path, or ``{"BACKEND": ..., "OPTIONS": {...}}``; made (and checked) by its concern."""

    own_concern = True

    type_doc = (
        "``None``, a dotted path to a subclass of :class:`~django_bff.assertions.ClientAssertionService`, "
        'or a dict ``{"BACKEND": "<dotted path>", "OPTIONS": {...}}``'
    )

    def valid(self, value: object) -> bool:
        return value is None or isinstance(value, str) or _is_backend(value)

    def check(self, value: object) -> list[Problem]:
        if self.valid(value):
            return []
        hint = f'{self.where} must be a dotted path or a dict with a "BACKEND" dotted path.'
        return [Problem(self.check_id, "A client assertion service is not usable.", hint)]


# --- structured settings: the container here, the entries parsed where they are used ---------------


class ListSetting(Setting[Sequence[object]]):
    """A list whose entries a parser of their own checks (``REMOTE_APIS``, ``ACCESS_TOKEN_RETRIEVERS``)."""

    own_concern = True

    must_be = "a list"

    def valid(self, value: object) -> bool:
        return isinstance(value, (list, tuple))


class DictSetting(Setting[Mapping[str, object]]):
    """A dict whose entries a parser of their own checks (``CLIENTS``)."""

    own_concern = True

    must_be = "a dict"

    def valid(self, value: object) -> bool:
        return isinstance(value, Mapping)


# --- DPoP (RFC 9449) ------------------------------------------------------------------------------

#: The algorithms of the keys DPoP proofs are signed with (:data:`django_bff.dpop.KEY_ALGORITHMS`).
DPOP_ALGORITHMS = ("ES256", "PS256", "RS256", "EdDSA")
_DPOP_OPTIONS = ("ALGORITHM", "ACCEPT_BEARER")


@dataclass(frozen=True)
class DPoPOptions:
    """``BFF["DPOP"]`` read: the algorithm of the keys made, and whether a bearer answer is taken."""

    #: The algorithm of every key made for DPoP (the sessions' and the named clients').
    algorithm: str = "ES256"
    #: True: a provider that answers a DPoP request with a bearer token is logged and its token kept.
    accept_bearer: bool = False


class DPoPSetting(Setting[DPoPOptions | None]):
    """``False``/``None`` (off), ``True`` (the defaults) or a dict of options; read as :class:`DPoPOptions` or None."""

    default_id = "django_bff.E053"
    type_doc = "``False``, ``True`` or a dict of options (``ALGORITHM``, ``ACCEPT_BEARER``)"

    def typed(self, value: object) -> bool:
        return self.valid(value)  # an unknown algorithm would fail at the first login: refuse it when read

    def valid(self, value: object) -> bool:
        return not self.check(value)

    def check(self, value: object) -> list[Problem]:
        if value is None or isinstance(value, bool):
            return []
        options = ", ".join(_DPOP_OPTIONS)
        if not isinstance(value, Mapping) or set(value) - set(_DPOP_OPTIONS):
            hint = f"Use True, False or a dict of some of {options}; got {value!r}."[:300]
            return [Problem(self.check_id, f"{self.where} must be True, False or a dict of options.", hint)]
        if not isinstance(value.get("ACCEPT_BEARER", False), bool):
            return [Problem(self.check_id, f"{self.where}: ACCEPT_BEARER must be True or False.", "Got a non-bool.")]
        algorithm = value.get("ALGORITHM", "ES256")
        if algorithm not in DPOP_ALGORITHMS:
            hint = f"Got {algorithm!r}; use one of {', '.join(DPOP_ALGORITHMS)}."
            return [Problem("django_bff.E054", f"{self.where} names an unknown ALGORITHM.", hint)]
        return []

    def convert(self, value: object) -> DPoPOptions | None:
        if not value:
            return None
        if not isinstance(value, Mapping):
            return DPoPOptions()
        return DPoPOptions(str(value.get("ALGORITHM", "ES256")), bool(value.get("ACCEPT_BEARER", False)))
