"""The demo's live API: a WebSocket endpoint at ``ws://localhost:PORT/demo-api/live``.

It stands for a remote API that pushes events, as :mod:`demo.api` stands for
one that answers calls. The browser never reaches it: it opens a socket to the
BFF (``/api/live/``), and the BFF opens this one with the user's access token
in ``Authorization: Bearer``. It is a plain ASGI application, the
``websocket_app`` of :mod:`demo.asgi`, so it gets every WebSocket connection
that is no route of the BFF.

It validates the token as :mod:`demo.api` does (django-oauth-toolkit: known,
not expired, not revoked, with the ``api`` scope) and refuses the handshake
otherwise: a close before the accept, which the server answers 403. Once
accepted, it sends an event every second (the user's name, a counter, a
digest of the token, never the token) and echoes every message it receives.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from asgiref.sync import sync_to_async
from django.utils import timezone
from oauth2_provider.oauth2_backends import get_oauthlib_core

from demo.api import token_id

PATH = "/demo-api/live"


def _check_token(scope: dict[str, Any]) -> tuple[str, str] | None:
    """(user name, token digest) for a valid user token in the handshake's ``Authorization``, else None."""
    headers = {name.decode("latin-1").title(): value.decode("latin-1") for name, value in scope["headers"]}
    uri = f"http://{headers.get('Host', 'localhost')}{scope['path']}"
    valid, request = get_oauthlib_core().server.verify_request(uri, "GET", None, headers, scopes=["api"])
    if not valid or request.access_token.user is None:
        return None
    return request.access_token.user.get_username(), token_id(request.access_token)


async def _tick(send: Any, user: str, digest: str) -> None:
    count = 0
    while True:
        count += 1
        event = {"event": "tick", "count": count, "user": user, "token_id": digest, "at": timezone.now().isoformat()}
        await send({"type": "websocket.send", "text": json.dumps(event)})
        await asyncio.sleep(1)


async def live(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI application: one WebSocket connection."""
    if scope["type"] != "websocket" or (await receive())["type"] != "websocket.connect":
        return
    checked = await sync_to_async(_check_token)(scope) if scope["path"] == PATH else None
    if checked is None:
        await send({"type": "websocket.close", "code": 1008})  # before the accept: HTTP 403
        return
    await send({"type": "websocket.accept"})
    ticker = asyncio.create_task(_tick(send, *checked))
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            said = message.get("text") if message.get("text") is not None else repr(message.get("bytes"))
            await send({"type": "websocket.send", "text": json.dumps({"event": "echo", "text": said})})
    finally:
        ticker.cancel()
        # Collects the ticker's end: cancelled, or failed on a send to a socket that had just closed.
        await asyncio.gather(ticker, return_exceptions=True)
