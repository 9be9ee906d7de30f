"""BFFApplication in the test process: what reaches Django, and a WebSocket handshake's checks and relay.

The relay tests talk to a real upstream (tests/support/ws_upstream.py) through a browser made of two
queues (what the ASGI server would hand over and take); the served tests are
tests/integration/test_websockets.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings

from django_bff.asgi import BFFApplication
from django_bff.tokens import UserToken
from tests.support.retrievers import CountingRetriever
from tests.support.sessions import logged_in_session
from tests.support.urlconf import use_current_routes

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "at-in-process-websocket-token-42"
HTTP_APP_CALLS: list[str] = []


async def django_app(scope: Any, receive: Any, send: Any) -> None:
    HTTP_APP_CALLS.append(scope["type"])


class Browser:
    """The ASGI server's side of one WebSocket: what it hands the application, and what it was sent."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.arrived.set()

    async def next_sent(self, kind: str) -> dict[str, Any]:
        while True:
            found = [m for m in self.sent if m["type"] == kind]
            if found:
                self.sent.remove(found[0])
                return found[0]
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 20)


def scope(path: str, origin: str | None = "http://testserver", cookie: str = "", extension: bool = True) -> Any:
    headers = [(b"host", b"testserver"), (b"authorization", b"Bearer browser-made")]
    if origin:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    path, _, query = path.partition("?")
    return {
        "type": "websocket",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "subprotocols": ["chat.v1"],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "extensions": {"websocket.http.response": {}} if extension else {},
    }


def handshake(app: Any, sc: Any) -> list[dict[str, Any]]:
    browser = Browser()

    async def run() -> None:
        await browser.inbox.put({"type": "websocket.connect"})
        await app(sc, browser.receive, browser.send)

    async_to_sync(run)()
    return browser.sent


def open_and_leave(path: str) -> None:
    """A browser opens a socket to ``path`` through the BFF, sees it accepted, and leaves."""
    browser = Browser()

    async def run() -> None:
        await browser.inbox.put({"type": "websocket.connect"})
        task = asyncio.ensure_future(BFFApplication(django_app)(scope(path), browser.receive, browser.send))
        await browser.next_sent("websocket.accept")
        await browser.inbox.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(task, 20)

    async_to_sync(run)()


def refusal(sent: list[dict[str, Any]]) -> tuple[int, Any]:
    assert sent[0]["type"] == "websocket.http.response.start", sent
    return sent[0]["status"], json.loads(sent[1]["body"])


@pytest.fixture
def routes(settings: Any) -> None:
    target = "ws://upstream.invalid/socket/"
    settings.BFF = {
        **settings.BFF,
        "REMOTE_APIS": [
            {"PREFIX": "ws/chat/", "TARGET": target, "RETRIEVER": "tests.support.retrievers.CountingRetriever"},
            {"PREFIX": "ws/members/", "TARGET": target, "TOKEN_TYPE": "none", "REQUIRE_AUTHENTICATION": True},
            {"PREFIX": "api/http/", "TARGET": "https://api.example.com/"},
        ],
        "ALLOW_INSECURE_UPSTREAMS": True,
        "WEBSOCKET_ALLOWED_ORIGINS": ["https://app.example.com"],
    }
    use_current_routes(settings)
    CountingRetriever.calls = 0


def test_http_and_lifespan_go_to_the_wrapped_application() -> None:
    HTTP_APP_CALLS.clear()
    app = BFFApplication(django_app)

    async def run() -> None:
        for kind in ("http", "lifespan"):
            await app({"type": kind}, None, None)  # type: ignore[arg-type]  # no receive or send: the app only passes them on

    async_to_sync(run)()
    assert HTTP_APP_CALLS == ["http", "lifespan"]


def test_a_websocket_of_no_route_is_refused_404_or_goes_to_the_websocket_app(routes: Any) -> None:
    HTTP_APP_CALLS.clear()
    for path in ("/nowhere/", "/api/http/x", "/bff/user"):
        assert refusal(handshake(BFFApplication(django_app), scope(path))) == (404, {"error": "not_found"})
    handshake(BFFApplication(django_app, websocket_app=django_app), scope("/nowhere/"))
    assert HTTP_APP_CALLS == ["websocket"]


@pytest.mark.parametrize(
    "origin", ["https://evil.example", None, "http://testserver.evil.example", "https://testserver"]
)
def test_a_wrong_or_missing_origin_is_refused_before_any_token_work(routes: Any, origin: Any, leak_guard: Any) -> None:
    assert refusal(handshake(BFFApplication(django_app), scope("/ws/chat/room", origin))) == (
        403,
        {"error": "origin_not_allowed"},
    )
    assert CountingRetriever.calls == 0
    refused = [r.getMessage() for r in leak_guard.records if r.name == "django.security.django_bff"]
    assert any("not allowed for '/ws/chat/room'" in m for m in refused), refused  # the path asked for, whole


def test_without_the_http_response_extension_a_refusal_is_a_close(routes: Any) -> None:
    sent = handshake(BFFApplication(django_app), scope("/ws/chat/room", None, extension=False))
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_an_anonymous_session_on_a_user_route_is_refused_401(routes: Any) -> None:
    sent = handshake(BFFApplication(django_app), scope("/ws/chat/room", "https://app.example.com"))
    assert refusal(sent) == (401, {"error": "not_authenticated"}) and CountingRetriever.calls == 1
    sent = handshake(BFFApplication(django_app), scope("/ws/members/room"))
    assert refusal(sent) == (401, {"error": "not_authenticated"})


def test_a_path_the_upstream_could_read_differently_is_refused_400(routes: Any) -> None:
    sent = handshake(BFFApplication(django_app), scope("/ws/chat/a/../b"))
    assert refusal(sent) == (400, {"error": "invalid_path"}) and CountingRetriever.calls == 0


def test_an_unreachable_upstream_is_502(routes: Any, settings: Any, bff_client: Any, user: Any) -> None:
    settings.BFF = {**settings.BFF, "PROXY_CONNECT_TIMEOUT": 2}
    token = UserToken(
        access_token=TOKEN, refresh_token="rt", expires_at=datetime.now(timezone.utc) + timedelta(hours=1)
    )
    logged_in_session(bff_client, user, token)
    cookie = bff_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    sent = handshake(BFFApplication(django_app), scope("/ws/chat/room", cookie=cookie))
    assert refusal(sent) == (502, {"error": "upstream_unavailable"})


def test_a_handshake_shows_no_token() -> None:
    from django_bff.asgi.handshake import Handshake

    shown = repr(Handshake("ws://x/socket/a", [("Authorization", f"Bearer {TOKEN}")], [], None))
    assert TOKEN not in shown and "/socket/a" in shown


@pytest.mark.parametrize(
    ("code", "sent"), [(1000, 1000), (4321, 4321), (1005, 1000), (1006, 1001), (None, 1001), (2000, 1001)]
)
def test_close_codes_are_passed_when_a_frame_may_carry_them(code: Any, sent: int) -> None:
    from django_bff.asgi.websocket import _sendable

    assert _sendable(code, 1001) == sent


@pytest.mark.parametrize(("key", "value"), [("WEBSOCKET_MAX_MESSAGE", 0), ("WEBSOCKET_SESSION_CHECK_INTERVAL", 0)])
def test_E005_websocket_limits_must_be_numbers_in_range(bff: Any, key: str, value: Any) -> None:
    assert "django_bff.E005" in bff(**{key: value})
    assert "django_bff.E005" not in bff(**{key: 5})


def test_E060_websocket_allowed_origins_must_be_origins(bff: Any) -> None:
    assert "django_bff.E060" in bff(WEBSOCKET_ALLOWED_ORIGINS=["app.example.com"])
    assert "django_bff.E060" in bff(WEBSOCKET_ALLOWED_ORIGINS="https://app.example.com")
    assert "django_bff.E060" not in bff(WEBSOCKET_ALLOWED_ORIGINS=["https://app.example.com"])


# --- the relay, in process, with a real upstream ---------------------------------------------------


@pytest.fixture
def ws_upstream(settings: Any) -> Iterator[Any]:
    from tests.support.ws_upstream import WebSocketUpstream

    with WebSocketUpstream() as upstream:
        settings.BFF = {
            **settings.BFF,
            "REMOTE_APIS": [{"PREFIX": "ws/chat/", "TARGET": f"{upstream.url}/socket/", "ALLOW_INSECURE": True}],
            "WEBSOCKET_SESSION_CHECK_INTERVAL": 0.05,
            "WEBSOCKET_MAX_MESSAGE": 1000,
            "REVOKE_REFRESH_TOKEN_ON_LOGOUT": False,
        }
        use_current_routes(settings)
        yield upstream


@pytest.mark.integration
def test_the_relay_in_process(ws_upstream: Any, bff_client: Any, user: Any) -> None:
    token = UserToken(
        access_token=TOKEN, refresh_token="rt", expires_at=datetime.now(timezone.utc) + timedelta(hours=1)
    )
    logged_in_session(bff_client, user, token)
    cookie = bff_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    browser = Browser()

    async def run() -> None:
        await browser.inbox.put({"type": "websocket.connect"})
        task = asyncio.ensure_future(
            BFFApplication(django_app)(scope("/ws/chat/r", cookie=cookie), browser.receive, browser.send)
        )
        accepted = await browser.next_sent("websocket.accept")
        assert accepted["subprotocol"] == "chat.v1"
        await browser.inbox.put({"type": "websocket.receive", "text": "hello"})
        assert (await browser.next_sent("websocket.send"))["text"] == "hello"
        await browser.inbox.put({"type": "websocket.receive", "bytes": b"\x00\xff"})
        assert (await browser.next_sent("websocket.send"))["bytes"] == b"\x00\xff"
        await browser.inbox.put({"type": "websocket.receive", "text": "big:2000"})  # over the limit, from upstream
        assert (await browser.next_sent("websocket.close"))["code"] == 1009
        await browser.inbox.put({"type": "websocket.disconnect", "code": 1009})
        await asyncio.wait_for(task, 20)

    async_to_sync(run)()
    assert ws_upstream.connection(1).headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.integration
@pytest.mark.parametrize(
    "ending",
    ["browser message too big", "browser text too big in bytes", "browser leaves", "session ends", "upstream closes"],
)
def test_the_relay_ends(ws_upstream: Any, bff_client: Any, user: Any, ending: str) -> None:
    token = UserToken(
        access_token=TOKEN, refresh_token="rt", expires_at=datetime.now(timezone.utc) + timedelta(hours=1)
    )
    logged_in_session(bff_client, user, token)
    cookie = bff_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    browser = Browser()

    async def run() -> dict[str, Any] | None:
        await browser.inbox.put({"type": "websocket.connect"})
        task = asyncio.ensure_future(
            BFFApplication(django_app)(scope("/ws/chat/r", cookie=cookie), browser.receive, browser.send)
        )
        await browser.next_sent("websocket.accept")
        closed = None
        if "too big" in ending:
            text = "x" * 1001 if ending == "browser message too big" else "é" * 600  # 600 characters, 1200 bytes
            await browser.inbox.put({"type": "websocket.receive", "text": text})
            closed = await browser.next_sent("websocket.close")
        elif ending == "browser leaves":
            await browser.inbox.put({"type": "websocket.disconnect", "code": 1006})
        elif ending == "session ends":
            from asgiref.sync import sync_to_async

            await sync_to_async(bff_client.logout)()
            closed = await browser.next_sent("websocket.close")
        else:
            await browser.inbox.put({"type": "websocket.receive", "text": "close:4100:done"})
            closed = await browser.next_sent("websocket.close")
        await browser.inbox.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(task, 20)
        return closed

    closed = async_to_sync(run)()
    seen = ws_upstream.connection(1)
    assert seen.closed.wait(20)
    expected = {
        "browser message too big": ((1009, ""), 1009),
        "browser text too big in bytes": ((1009, ""), 1009),
        "browser leaves": (None, 1001),
        "session ends": ((1008, "session_ended"), 1001),
        "upstream closes": ((4100, "done"), 4100),
    }[ending]
    assert (None if closed is None else (closed["code"], closed["reason"])) == expected[0]
    assert seen.close_code == expected[1]
    if "too big" in ending:
        assert seen.received == []  # refused by the BFF: never sent upstream


@pytest.mark.integration
def test_a_browser_gone_while_the_upstream_sends_closes_the_upstream(
    ws_upstream: Any, bff_client: Any, user: Any
) -> None:
    token = UserToken(
        access_token=TOKEN, refresh_token="rt", expires_at=datetime.now(timezone.utc) + timedelta(hours=1)
    )
    logged_in_session(bff_client, user, token)
    cookie = bff_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    browser = Browser()

    async def gone(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            raise OSError("the browser's connection is gone")
        await browser.send(message)

    async def run() -> None:
        await browser.inbox.put({"type": "websocket.connect"})
        task = asyncio.ensure_future(
            BFFApplication(django_app)(scope("/ws/chat/r", cookie=cookie), browser.receive, gone)
        )
        await browser.next_sent("websocket.accept")
        await browser.inbox.put({"type": "websocket.receive", "text": "hello"})
        await asyncio.wait_for(task, 20)  # ends without an error: the upstream is closed, the browser left

    async_to_sync(run)()
    seen = ws_upstream.connection(1)
    assert seen.closed.wait(20) and seen.close_code == 1001


@pytest.mark.integration
@pytest.mark.parametrize(("status", "expected"), [(403, 403), (500, 502)])
def test_an_upstream_refusal_is_passed_on_when_it_is_the_browsers_business(
    ws_upstream: Any, settings: Any, status: int, expected: int
) -> None:
    target = f"{ws_upstream.url}/refuse/{status}/"
    settings.BFF = {
        **settings.BFF,
        "REMOTE_APIS": [{"PREFIX": "ws/r/", "TARGET": target, "TOKEN_TYPE": "none", "ALLOW_INSECURE": True}],
    }
    use_current_routes(settings)
    assert refusal(handshake(BFFApplication(django_app), scope("/ws/r/x"))) == (expected, {"error": "upstream_refused"})


@pytest.mark.integration
def test_a_dpop_bound_token_goes_with_a_proof_for_the_handshake(ws_upstream: Any, settings: Any) -> None:
    import jwt

    target = f"{ws_upstream.url}/socket/"
    retriever = "tests.support.retrievers.DPoPRetriever"
    settings.BFF = {
        **settings.BFF,
        "REMOTE_APIS": [{"PREFIX": "ws/d/", "TARGET": target, "RETRIEVER": retriever, "ALLOW_INSECURE": True}],
    }
    use_current_routes(settings)
    open_and_leave("/ws/d/x?a=1")
    headers = ws_upstream.connection(1).headers
    assert headers["authorization"] == "DPoP dpop-bound-websocket-token"
    claims = jwt.decode(headers["dpop"], options={"verify_signature": False})
    assert claims["htm"] == "GET" and claims["htu"] == f"{ws_upstream.url.replace('ws://', 'http://')}/socket/x"
    assert "ath" in claims and ws_upstream.connection(1).path == "/socket/x?a=1"


def test_a_host_outside_allowed_hosts_is_refused_403(routes: Any) -> None:
    sc = scope("/ws/chat/room", "http://evil.invalid")
    sc["headers"] = [(b"host", b"evil.invalid"), *[(k, v) for k, v in sc["headers"] if k != b"host"]]
    assert refusal(handshake(BFFApplication(django_app), sc)) == (403, {"error": "origin_not_allowed"})
    assert CountingRetriever.calls == 0


def test_a_retriever_that_returns_no_result_is_an_error(routes: Any, settings: Any) -> None:
    retriever = "tests.support.retrievers.BrokenRetriever"
    target = "ws://upstream.invalid/"
    settings.BFF = {**settings.BFF, "REMOTE_APIS": [{"PREFIX": "ws/b/", "TARGET": target, "RETRIEVER": retriever}]}
    use_current_routes(settings)
    with pytest.raises(TypeError, match="not an AccessTokenResult"):
        handshake(BFFApplication(django_app), scope("/ws/b/x"))


def test_the_tls_context_follows_the_proxys_settings(settings: Any, tmp_path: Any) -> None:
    import ssl

    from django_bff.asgi.websocket import _tls

    settings.BFF = {**settings.BFF, "PROXY_VERIFY": False}
    assert _tls().verify_mode == ssl.CERT_NONE and not _tls().check_hostname
    settings.BFF = {**settings.BFF, "PROXY_VERIFY": True}
    assert _tls().verify_mode == ssl.CERT_REQUIRED and _tls().check_hostname


def test_a_session_storage_outage_is_not_a_session_end(dead_cache: Any, settings: Any) -> None:
    from django_bff.asgi.websocket import session_ended

    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.SESSION_CACHE_ALIAS = dead_cache
    assert async_to_sync(session_ended)("a-session-key-of-the-right-length") is False


@pytest.mark.integration
def test_a_dpop_handshake_refused_for_its_nonce_is_made_once_more_with_it(ws_upstream: Any, settings: Any) -> None:
    import jwt

    from django_bff.dpop_nonces import nonce_for, origin_scope
    from tests.support.ws_upstream import NONCE

    target = f"{ws_upstream.url}/nonce/"
    route = {"PREFIX": "ws/n/", "TARGET": target, "RETRIEVER": "tests.support.retrievers.DPoPRetriever"}
    settings.BFF = {**settings.BFF, "REMOTE_APIS": [{**route, "ALLOW_INSECURE": True}]}
    use_current_routes(settings)
    open_and_leave("/ws/n/x")
    proof = ws_upstream.connection(1).headers["dpop"]
    assert jwt.decode(proof, options={"verify_signature": False})["nonce"] == NONCE
    assert nonce_for(origin_scope(target.replace("ws://", "http://"))) == NONCE  # the next handshake starts with it


def test_sizes_are_bytes_and_reasons_fit_a_close_frame() -> None:
    from django_bff.asgi.websocket import _reason, _size

    assert _size("é" * 10) == 20 and _size(b"\x00" * 10) == 10
    cut = _reason("é" * 100)
    assert cut == "é" * 61 and len(cut.encode()) == 122
    assert _reason("session_ended") == "session_ended"
