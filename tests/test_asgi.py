from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from django_bff.asgi import RequestBodyLimitMiddleware


class App:
    """Reads the whole body like Django's ASGI handler, then answers 200 with its length."""

    def __init__(self) -> None:
        self.bodies: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.bodies.append(size)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


def run(middleware: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes], kind: str = "http") -> list[Any]:
    sent: list[Any] = []
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> Any:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    async_to_sync(middleware)({"type": kind, "headers": headers}, receive, send)
    return sent


def test_announced_body_over_the_limit_is_refused_unread() -> None:
    app = App()
    sent = run(RequestBodyLimitMiddleware(app, max_bytes=10), [(b"content-length", b"11")], [b"x" * 11])
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"]) == {"error": "request_body_too_large"}
    assert app.bodies == []


def test_unannounced_body_is_cut_at_the_limit() -> None:
    app = App()
    sent = run(RequestBodyLimitMiddleware(app, max_bytes=10), [], [b"x" * 6, b"x" * 6])
    assert [m.get("status") for m in sent] == [413, None] and app.bodies == []


def test_bodies_within_the_limit_pass(settings: Any) -> None:
    app = App()
    settings.BFF = {**settings.BFF, "MAX_REQUEST_BODY": 12}
    sent = run(RequestBodyLimitMiddleware(app), [(b"content-length", b"12")], [b"x" * 6, b"x" * 6])
    assert sent[0]["status"] == 200 and app.bodies == [12]
    settings.BFF = {**settings.BFF, "MAX_REQUEST_BODY": None}
    run(RequestBodyLimitMiddleware(app), [], [b"x" * 100])
    run(RequestBodyLimitMiddleware(app, max_bytes=1), [], [b"x" * 100], kind="lifespan")
    assert app.bodies == [12, 100, 100]


# --- a client that stops sending in the middle of an upload -------------------------------------


def run_stalled(middleware: Any, app_sends_first: bool = False) -> list[Any]:
    """An upload of 10 announced bytes whose client sends 4, then nothing (the server's receive never returns)."""
    sent: list[Any] = []
    pending = [{"type": "http.request", "body": b"x" * 4, "more_body": True}]

    async def receive() -> Any:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()  # the client sends nothing more

    async def send(message: Any) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if app_sends_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # as Django does: RequestAborted, and no answer
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})  # pragma: no cover

    scope = {"type": "http", "method": "POST", "path": "/api/x", "headers": [(b"content-length", b"10")]}
    async_to_sync(middleware(app, body_timeout=0.05))(scope, receive, send)
    return sent


def test_a_stalled_upload_is_answered_408(leak_guard: Any) -> None:
    sent = run_stalled(RequestBodyLimitMiddleware)
    assert sent[0]["status"] == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == {"error": "request_body_timeout"} and len(sent) == 2
    assert any("answered 408" in r.getMessage() for r in leak_guard.records if r.name == "django_bff.asgi.body_limit")


def test_a_stalled_upload_after_the_answer_started_is_only_cut() -> None:
    sent = run_stalled(RequestBodyLimitMiddleware, app_sends_first=True)
    assert [m.get("status") for m in sent] == [200]


def test_the_bound_ends_with_the_body() -> None:
    """Once the body is in, Django waits for a disconnect for as long as the answer lasts: never a 408."""
    sent: list[Any] = []
    answered = asyncio.Event()
    messages = [{"type": "http.request", "body": b"abc", "more_body": False}]

    async def receive() -> Any:
        if messages:
            return messages.pop(0)
        await answered.wait()
        await asyncio.sleep(0.2)  # the answer takes longer than the body timeout
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            answered.set()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["body"] == b"abc"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        assert (await receive())["type"] == "http.disconnect"

    scope = {"type": "http", "headers": [(b"content-length", b"3")]}
    async_to_sync(RequestBodyLimitMiddleware(app, max_bytes=None, body_timeout=0.05))(scope, receive, send)
    assert [m.get("status") for m in sent] == [200, None]


@pytest.mark.parametrize(
    ("headers", "version", "bounded"),
    [
        ([], "1.1", False),
        ([(b"content-length", b"0")], "1.1", False),
        ([(b"content-length", b"3")], "1.1", True),
        ([(b"transfer-encoding", b"chunked")], "1.1", True),
        ([], "2", True),
    ],
)
def test_only_requests_with_a_body_are_bounded(settings: Any, headers: Any, version: str, bounded: bool) -> None:
    settings.BFF = {**settings.BFF, "MAX_REQUEST_BODY": None, "REQUEST_BODY_TIMEOUT": 5}
    seen: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def app(scope: Any, receive_: Any, send: Any) -> None:
        seen.append(receive_)

    async def send(message: Any) -> None:  # pragma: no cover
        pass

    scope = {"type": "http", "http_version": version, "headers": headers}
    async_to_sync(RequestBodyLimitMiddleware(app))(scope, receive, send)
    assert (seen[0] is not receive) is bounded


@pytest.mark.parametrize("value", [0, -1, "30", True, None])
def test_E005_request_body_timeout_must_be_a_number_above_zero(settings: Any, value: Any) -> None:
    from django_bff.checks import check_settings

    settings.BFF = {**settings.BFF, "REQUEST_BODY_TIMEOUT": value}
    assert any(m.id == "django_bff.E005" and "REQUEST_BODY_TIMEOUT" in m.msg for m in check_settings())
    settings.BFF = {**settings.BFF, "REQUEST_BODY_TIMEOUT": 0.5}
    assert not any("REQUEST_BODY_TIMEOUT" in m.msg for m in check_settings())
