"""A root URLconf built for the settings a test set: what a test that changes ``REMOTE_APIS`` or ``BASE_PATH`` uses.

``django_bff.urls`` makes its routes when it is imported, as any URLconf
does. A test that changes ``BFF["REMOTE_APIS"]`` or ``BFF["BASE_PATH"]``
switches ``ROOT_URLCONF`` to a URLconf built after the change, the Django way::

    settings.BFF = {**settings.BFF, "REMOTE_APIS": [...]}
    use_current_routes(settings)   # settings.ROOT_URLCONF = a fresh tests.urls

The pytest-django ``settings`` fixture (or ``override_settings``) puts
``ROOT_URLCONF`` back after the test; Django clears its URL caches on both
changes.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

__all__ = ["fresh_urlconf", "use_current_routes"]


def fresh_urlconf() -> ModuleType:
    """``tests.urls`` with a ``django_bff.urls`` run again for the settings as they are now."""
    from tests.urls import root_patterns

    spec = importlib.util.find_spec("django_bff.urls")
    assert spec is not None and spec.loader is not None
    bff = importlib.util.module_from_spec(spec)  # a new module object: sys.modules keeps the imported one
    spec.loader.exec_module(bff)
    root = ModuleType("tests.urls")
    root.__dict__["urlpatterns"] = root_patterns(bff)
    return root


def use_current_routes(settings: Any) -> None:
    """Switch ``settings.ROOT_URLCONF`` (pytest-django's fixture) to :func:`fresh_urlconf`."""
    settings.ROOT_URLCONF = fresh_urlconf()
