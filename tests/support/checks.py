"""Helpers of the system-check tests: the ids that ``check_settings()`` reports, with ``BFF`` values of a test's own.

``ids()`` returns the sorted ids of every concern's messages for the settings
as they are; the ``bff`` fixture (``tests/conftest.py``) merges values over the
test settings' ``BFF`` first (``bff(REMOTE_APIS=[...])``).
"""

from __future__ import annotations

from django_bff.checks import check_settings

__all__ = ["ids"]


def ids() -> list[str]:
    return sorted({m.id for m in check_settings()})
