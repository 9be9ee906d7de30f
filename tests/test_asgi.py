from __future__ import annotations

import json
from typing import Any

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
