"""Objects made from settings: made once per settings, closed and made again when ``BFF`` changes."""

from __future__ import annotations

from typing import Any

import pytest

from django_bff.conf import per_settings, per_settings_closing


def test_made_once_per_arguments_until_the_settings_change(settings: Any) -> None:
    made: list[str] = []

    @per_settings
    def make(name: str) -> object:
        made.append(name)
        return object()

    first = make("a")
    assert make("a") is first and make("b") is not first and made == ["a", "b"]
    settings.BFF = {**settings.BFF, "RETRY_AFTER": 7}
    assert make("a") is not first and made == ["a", "b", "a"]


def test_what_is_forgotten_is_closed(settings: Any) -> None:
    closed: list[object] = []

    @per_settings_closing(closed.append)
    def make() -> object:
        return object()

    first = make()
    settings.BFF = {**settings.BFF, "RETRY_AFTER": 7}
    assert closed == [first]
    assert make() is not first


def test_a_failure_is_not_kept(settings: Any) -> None:
    calls: list[int] = []

    @per_settings
    def make() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("the first try fails")
        return len(calls)

    try:
        make()
    except ValueError:
        pass
    assert make() == 2 and make() == 2


def test_the_proxys_stream_threads_are_shut_down_when_the_settings_change(settings: Any) -> None:
    from django_bff.proxy.transport import _stream_executor

    executor = _stream_executor()
    assert _stream_executor() is executor
    settings.BFF = {**settings.BFF, "PROXY_POOL_SIZE": 3}
    assert _stream_executor() is not executor
    with pytest.raises(RuntimeError):  # shut down: it takes no more work
        executor.submit(int)
