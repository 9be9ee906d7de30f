"""A real WebSocket upstream (the ``websockets`` library's server) in a thread, for the WebSocket proxy's tests.

It echoes every message (text as text, binary as binary) and obeys a few
text commands: ``close:CODE:REASON`` closes with that code, ``ping`` pings the
BFF and answers ``pong-received`` once the pong came back, ``big:N`` sends N
bytes of text. A handshake to ``/refuse/NNN/`` is answered NNN. Every
connection is recorded: the handshake's headers and path, the subprotocol
chosen, the messages and the close code the upstream received.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.server import Server, ServerConnection, serve

from tests.support import real_parts

__all__ = ["WebSocketUpstream", "Seen", "NONCE"]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    subprotocol: str | None
    received: list[str | bytes] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    close_code: int | None = None


_LOGGER = logging.getLogger("tests.ws_upstream")
_LOGGER.setLevel(logging.INFO)

#: The subprotocols the upstream speaks, preferred first.
SUBPROTOCOLS = ("chat.v2", "chat.v1")


def _choose(connection: ServerConnection, offered: Sequence[str]) -> Any:
    """The first of :data:`SUBPROTOCOLS` the client offered; none when it offered none of them."""
    return next((p for p in SUBPROTOCOLS if p in offered), None)


#: The nonce a handshake to ``/nonce/...`` must carry in its DPoP proof.
NONCE = "upstream-nonce-1"


def _refuse(connection: ServerConnection, request: Any) -> Any:
    """A handshake to ``/refuse/NNN/`` is answered NNN; one to ``/nonce/`` without :data:`NONCE` in its proof, 401."""
    if request.path.startswith("/refuse/"):
        return connection.respond(int(request.path.split("/")[2]), "refused\n")
    if request.path.startswith("/nonce/"):
        import jwt

        proof = request.headers.get("DPoP", "")
        if jwt.decode(proof, options={"verify_signature": False}).get("nonce") != NONCE:
            response = connection.respond(401, "use a nonce\n")
            response.headers["WWW-Authenticate"] = 'DPoP error="use_dpop_nonce"'
            response.headers["DPoP-Nonce"] = NONCE
            return response
    return None


class WebSocketUpstream:
    """``with WebSocketUpstream() as upstream:`` a server on ``upstream.url`` (``ws://127.0.0.1:PORT``)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.arrived = threading.Condition()
        self.server: Server | None = None
        self.url = ""

    def handler(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        seen = Seen(request.path, {k.lower(): v for k, v in request.headers.raw_items()}, connection.subprotocol)
        with self.arrived:
            self.seen.append(seen)
            self.arrived.notify_all()
        try:
            for message in connection:
                seen.received.append(message)
                if isinstance(message, str) and message.startswith("close:"):
                    _, code, reason = message.split(":", 2)
                    connection.close(int(code), reason)
                elif message == "ping":
                    assert connection.ping(b"from-upstream").wait(10), "no pong"
                    connection.send("pong-received")
                elif isinstance(message, str) and message.startswith("big:"):
                    connection.send("x" * int(message[4:]))
                else:
                    connection.send(message)
        finally:
            seen.close_code = connection.close_code
            seen.closed.set()

    def connection(self, number: int, timeout: float = 20) -> Seen:
        """The ``number``-th connection (from 1), once its handler runs: it may start after the client is gone."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.seen) >= number, timeout), "no such connection"
            return self.seen[number - 1]

    def __enter__(self) -> WebSocketUpstream:
        real_parts.require("a WebSocket upstream")
        self.server = serve(
            self.handler,
            "127.0.0.1",
            0,
            select_subprotocol=_choose,
            process_request=_refuse,
            max_size=None,
            logger=_LOGGER,  # the library's DEBUG lines would print the handshake's Authorization
        )
        port = self.server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.server is not None
        self.server.shutdown()
