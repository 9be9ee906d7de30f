"""The leak guard itself must catch what it is there to catch."""

from __future__ import annotations

import logging

from tests.conftest import LeakGuard


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("django_bff.x", logging.INFO, __file__, 1, message, args, None)


def test_it_catches_jwts_and_known_secrets() -> None:
    guard = LeakGuard()
    guard.add("opaque-refresh-token-value", None, "short")
    guard.emit(record("calling with %s", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"))
    guard.emit(record("refresh token %s", "opaque-refresh-token-value"))
    guard.emit(record("token request (refresh_token) -> 200"))
    guard.emit(record("short is too short to be a secret"))
    assert len(guard.leaks()) == 2


def test_it_reads_tracebacks_too() -> None:
    guard = LeakGuard()
    guard.add("opaque-refresh-token-value")
    try:
        raise ValueError("bad opaque-refresh-token-value")
    except ValueError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    guard.emit(rec)
    assert guard.leaks()
