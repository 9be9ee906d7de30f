"""The one clock django_bff reads for wall-clock time.

In the data flow: at the bottom, read by every module that compares the time
with a token's or a session's expiry.

Token lifetimes, session expiry, the session index's bounds, a logout token's
``iat`` and ``exp``, the ``iat`` of a client assertion or a DPoP proof: all
wall-clock time, read here and nowhere else (the one exception is the
``oidc_id_token_expiration`` that mozilla-django-oidc's own middleware compares
with :func:`time.time`). Tests move this clock (:meth:`Clock.advance`) instead
of sleeping. Waiting and deadlines use :func:`time.monotonic`, which no test needs
to move.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "clock"]


class Clock:
    """Aware UTC wall-clock time, with an offset tests can move."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        moment = datetime.now(timezone.utc)
        return moment + timedelta(seconds=self.offset) if self.offset else moment

    def time(self) -> float:
        """Seconds since the epoch."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward (tests)."""
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0


#: The process's clock.
clock = Clock()
