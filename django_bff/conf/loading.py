"""The one loader of dotted paths named in settings, with one set of messages.

In the data flow: every setting that names code goes through here, at run
time and in the system checks alike: the token store and the session index
(``{"BACKEND": ..., "OPTIONS": ...}``, :func:`make_backend`), the client
assertion services (a dotted path or the same dict), the retrievers of
``REMOTE_APIS`` and ``ACCESS_TOKEN_RETRIEVERS`` (:func:`load_class`) and the
back-channel session factory (:func:`load_callable`). Each failure raises the
given :class:`~django.core.exceptions.ImproperlyConfigured` subclass, naming
where the value came from, ``from`` the original error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from django.utils.module_loading import import_string

from django_bff.exceptions import BFFImproperlyConfigured

__all__ = ["import_object", "load_class", "load_callable", "make_backend"]

T = TypeVar("T")


def import_object(path: str, where: str, error: type[Exception] = BFFImproperlyConfigured) -> object:
    """What the dotted ``path`` names."""
    try:
        return import_string(path)
    except ImportError as e:
        raise error(f"Could not import {where} {path!r}: {e}") from e


def load_class(value: object, base: type[T], where: str, error: type[Exception] = BFFImproperlyConfigured) -> type[T]:
    """A subclass of ``base``, given as the class itself or as its dotted path."""
    found = import_object(value, where, error) if isinstance(value, str) else value
    if not (isinstance(found, type) and issubclass(found, base)):
        name = base.__qualname__
        raise error(f"{where}: {value!r} is not a {name} (not a subclass of {base.__module__}.{name})")
    return found


def load_callable(value: object, where: str, error: type[Exception] = BFFImproperlyConfigured) -> Callable[[], object]:
    """A callable, given as itself or as its dotted path."""
    found = import_object(value, where, error) if isinstance(value, str) else value
    if not callable(found):
        raise error(f"{where}: {value!r} is not callable")
    made: Callable[[], object] = found
    return made


def make_backend(
    config: object,
    base: type[T],
    where: str,
    error: type[Exception] = BFFImproperlyConfigured,
    *,
    path_alone: bool = False,
) -> T:
    """``{"BACKEND": dotted path, "OPTIONS": {...}}`` made: the class, called with the options as keywords.

    Like Django's ``STORAGES``. With ``path_alone``, a dotted path alone is
    allowed too (no options).
    """
    if path_alone and isinstance(config, str):
        config = {"BACKEND": config}
    if not isinstance(config, Mapping) or not isinstance(config.get("BACKEND"), str):
        shape = (
            'a dotted path or a dict with a "BACKEND" dotted path'
            if path_alone
            else 'a dict with a "BACKEND" dotted path'
        )
        raise error(f"{where} must be {shape}")
    backend = load_class(config["BACKEND"], base, f'{where}["BACKEND"]', error)
    options = config.get("OPTIONS") or {}
    try:
        return backend(**options)
    except TypeError as e:
        raise error(f'{where}["OPTIONS"] rejected: {e}') from e
