"""The one clock django_bff reads for token lifetimes.

In the data flow: at the bottom, read by every module that compares the time
with a token's or a session's expiry.

Token expiry is wall-clock time (a provider's ``exp`` is), so it is read here
and nowhere else: tests move this clock (:meth:`Clock.advance`) instead of
sleeping. Waiting and deadlines use :func:`time.monotonic`, which no test needs
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
