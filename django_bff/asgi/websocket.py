"""A WebSocket proxied: the upstream connection opened with the token, then frames both ways until one side closes.

In the data flow: after :mod:`django_bff.asgi.handshake` let the handshake
through, :func:`proxy_websocket` connects to the route's ``ws(s)://`` target
with the ``websockets`` library's asyncio client (one task per direction, no
thread), accepts the browser's socket with the subprotocol the upstream chose,
and relays messages until one side closes or the session ends.

* **Messages.** Text stays text and binary stays binary, each message whole.
  A message larger than ``BFF["WEBSOCKET_MAX_MESSAGE"]`` from either side
  closes both with 1009 (message too big). Nothing else is checked per
  message: the BFF does not read, parse or filter what the two sides say.
* **Control frames** are per hop, as ASGI has no ping events: the ASGI server
  answers the browser's pings, the client here answers the upstream's, and
  each side's keepalive runs on its own hop.
* **Backpressure.** A message is read from one side only once the other side
  took the previous one (``websockets`` waits for its write buffer to drain;
  the ASGI server's send does the same), so a slow reader slows the writer
  down through TCP instead of filling the BFF's memory: at most
  ``_MAX_QUEUE`` messages wait per direction.
* **Close codes** pass through: the upstream's code and reason reach the
  browser, the browser's reach the upstream. An upstream gone without a close
  frame is 1014 (bad gateway) to the browser; a browser gone without one is
  1001 (going away) to the upstream.
* **The session's end.** A socket opened by a logged-in session re-reads the
  session every ``BFF["WEBSOCKET_SESSION_CHECK_INTERVAL"]`` seconds; once it
  holds no login (``/bff/logout``, a back-channel logout, ``bff_sessions
  revoke``, expiry), the browser's socket is closed with 1008 (policy
  violation, reason ``session_ended``) and the upstream's with 1001. A storage
  outage is not taken for an end: the check is made again next time.
* **The token** is sent once, in the handshake; the BFF does not refresh it
  during the connection. What the upstream does once it expires is its own
  rule (most check the token at the handshake only); an app that wants a fresh
  token reconnects, and each handshake gets one, refreshed when due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from django_bff import dpop
from django_bff.asgi.handshake import Handshake, Refused, _http_url, _token_headers
from django_bff.conf import bff_settings, per_settings
from django_bff.dpop_nonces import origin_scope, remember_nonce
from django_bff.faults import is_storage_error

if TYPE_CHECKING:
    from django_bff.asgi.body_limit import Receive, Send

__all__ = ["proxy_websocket", "session_ended"]

logger = logging.getLogger(__name__)

#: Messages the upstream client keeps read ahead before it stops reading its socket.
_MAX_QUEUE = 4
#: Close codes a close frame may carry (RFC 6455 section 7.4, and the registered 1012-1014).
_SENDABLE = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
POLICY = 1008
TOO_BIG = 1009
BAD_GATEWAY = 1014
GOING_AWAY = 1001


def _sendable(code: int | None, fallback: int) -> int:
    if code is not None and (code in _SENDABLE or 3000 <= code <= 4999):
        return code
    return 1000 if code == 1005 else fallback


def _size(data: str | bytes) -> int:
    """A message's size in bytes (a text's UTF-8)."""
    return len(data.encode()) if isinstance(data, str) else len(data)


def _reason(reason: str) -> str:
    """A close reason that fits a close frame: 123 bytes of UTF-8 at most, cut between characters."""
    return reason.encode()[:123].decode(errors="ignore")


class _QuietLogger(logging.LoggerAdapter[logging.Logger]):
    """The client's logger, without its DEBUG lines: they would show the handshake's headers, the token's."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


@per_settings
def _tls() -> ssl.SSLContext:
    """The TLS context of ``wss://`` upstreams: ``BFF["PROXY_VERIFY"]`` and ``BFF["PROXY_CLIENT_CERT"]``."""
    verify = bff_settings.PROXY_VERIFY
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert = bff_settings.PROXY_CLIENT_CERT
    if cert:
        certfile, keyfile = (cert, None) if isinstance(cert, str) else (cert[0], cert[1] if len(cert) > 1 else None)
        context.load_cert_chain(certfile, keyfile)
    return context


async def session_ended(session_key: str) -> bool:
    """Whether the session ``session_key`` holds no login any more (False when the storage cannot tell)."""
    from django.contrib.auth import SESSION_KEY

    from django_bff.sessions import _session_store

    try:
        return await _session_store(session_key).aget(SESSION_KEY) is None
    except Exception as e:
        if is_storage_error(e):
            logger.debug("the session storage cannot be read: the socket stays open")
            return False
        raise
    finally:
        await sync_to_async(close_old_connections)()  # as Django does at the end of a request


async def _open(handshake: Handshake, headers: list[tuple[str, str]]) -> Any:
    """The upstream connection with these handshake headers; ``InvalidStatus`` for a refusal, else :class:`Refused`."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    subprotocols: Any = handshake.subprotocols or None  # websockets types them as its Subprotocol (a NewType)
    try:
        return await connect(
            handshake.url,
            additional_headers=headers,
            subprotocols=subprotocols,
            user_agent_header=None,
            proxy=None,
            open_timeout=bff_settings.PROXY_CONNECT_TIMEOUT,
            max_size=bff_settings.WEBSOCKET_MAX_MESSAGE,
            max_queue=_MAX_QUEUE,
            ssl=_tls() if handshake.url.startswith("wss:") else None,
            logger=_QuietLogger(logger, {}),
        )
    except InvalidStatus:
        raise
    except TimeoutError:
        logger.warning("WebSocket upstream did not answer the handshake in time")
        raise Refused(504, "upstream_timeout") from None
    except (OSError, InvalidHandshake) as e:
        logger.warning("WebSocket upstream cannot be reached: %s", type(e).__name__)
        raise Refused(502, "upstream_unavailable") from None


def _refused(status: int) -> Refused:
    logger.warning("WebSocket upstream refused the handshake with %s", status)
    return Refused(status if 400 <= status < 500 else 502, "upstream_refused")


async def _connect_upstream(handshake: Handshake) -> Any:
    """The upstream connection, opened; :class:`Refused` when it cannot be.

    A DPoP handshake refused with ``use_dpop_nonce`` is made once more with the
    nonce the upstream gave, which is remembered for its origin.
    """
    from websockets.exceptions import InvalidStatus

    try:
        return await _open(handshake, handshake.headers)
    except InvalidStatus as e:
        status, nonce = e.response.status_code, None
        if handshake.dpop is not None:
            nonce = dpop.wants_nonce(status, e.response.headers)
        if nonce is None:
            raise _refused(status) from None
    assert handshake.dpop is not None
    await sync_to_async(remember_nonce)(origin_scope(_http_url(handshake.url)), nonce)
    headers = [(k, v) for k, v in handshake.headers if k not in ("Authorization", "DPoP")]
    headers += _token_headers(handshake.dpop, handshake.url, nonce)
    try:
        return await _open(handshake, headers)
    except InvalidStatus as e:
        raise _refused(e.response.status_code) from None


class _Relay:
    """The two directions of one proxied socket, and the session's watch."""

    def __init__(self, upstream: Any, receive: Receive, send: Send, handshake: Handshake) -> None:
        self.upstream, self.receive, self.send, self.handshake = upstream, receive, send, handshake
        self.browser_closed = False
        self.limit = bff_settings.WEBSOCKET_MAX_MESSAGE

    async def close_browser(self, code: int, reason: str = "") -> None:
        if not self.browser_closed:
            self.browser_closed = True
            with contextlib.suppress(OSError, RuntimeError):
                await self.send({"type": "websocket.close", "code": code, "reason": _reason(reason)})

    async def from_browser(self) -> None:
        from websockets.exceptions import ConnectionClosed

        while True:
            message = await self.receive()
            if message["type"] == "websocket.disconnect":
                self.browser_closed = True
                code = _sendable(message.get("code"), GOING_AWAY)
                await self.upstream.close(code, _reason(str(message.get("reason") or "")))
                return
            if message["type"] != "websocket.receive":
                continue
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            if _size(data) > self.limit:
                logger.info("a browser message over WEBSOCKET_MAX_MESSAGE: the socket is closed with 1009")
                await self.upstream.close(TOO_BIG)
                await self.close_browser(TOO_BIG)
                return
            try:
                await self.upstream.send(data)  # waits while the upstream is slow to read
            except ConnectionClosed:
                return  # the upstream left: from_upstream() closes the browser's socket with its code

    async def from_upstream(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for data in self.upstream:
                key = "text" if isinstance(data, str) else "bytes"
                await self.send({"type": "websocket.send", key: data})
        except ConnectionClosed:
            pass
        except OSError:  # the browser's connection is gone (uvicorn's ClientDisconnected)
            self.browser_closed = True
            await self.upstream.close(GOING_AWAY)
            return
        rcvd = self.upstream.protocol.close_rcvd
        sent = self.upstream.protocol.close_sent
        if rcvd is not None:
            await self.close_browser(_sendable(rcvd.code, BAD_GATEWAY), rcvd.reason)
        elif sent is not None and sent.code == TOO_BIG:
            await self.close_browser(TOO_BIG)
        else:
            await self.close_browser(BAD_GATEWAY)

    async def watch_session(self, session_key: str) -> None:
        interval = bff_settings.WEBSOCKET_SESSION_CHECK_INTERVAL
        while True:
            await asyncio.sleep(interval)
            if await session_ended(session_key):
                logger.info("the session ended: its WebSocket is closed with 1008")
                await self.close_browser(POLICY, "session_ended")
                await self.upstream.close(GOING_AWAY, "session_ended")
                return

    async def run(self) -> None:
        tasks = [asyncio.ensure_future(self.from_browser()), asyncio.ensure_future(self.from_upstream())]
        if self.handshake.watched_session:
            tasks.append(asyncio.ensure_future(self.watch_session(self.handshake.watched_session)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if tasks[0] in done and not tasks[1].done():
                # The browser left: the upstream's closing handshake ends the other direction.
                await asyncio.wait([tasks[1]], timeout=bff_settings.PROXY_CONNECT_TIMEOUT)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.upstream.close()


async def proxy_websocket(handshake: Handshake, receive: Receive, send: Send) -> None:
    """Connect upstream, accept the browser's socket, relay until the end. :class:`Refused` before the accept."""
    upstream = await _connect_upstream(handshake)
    logger.info("WebSocket %s connected (subprotocol %r)", handshake.url.split("?", 1)[0], upstream.subprotocol)
    try:
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
    except BaseException:
        await upstream.close()
        raise
    await _Relay(upstream, receive, send, handshake).run()
