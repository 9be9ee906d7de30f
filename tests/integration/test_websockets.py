"""WebSockets through the BFF, for real: uvicorn runs the test project behind ``BFFApplication``, the upstream is
the ``websockets`` library's server, the browser is its client with the session cookie a login left.

Waits are bounded (a receive timeout) far above what the behaviour needs; nothing asserts a duration.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.conf import settings as django_settings
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from django_bff.tokens import UserToken
from tests.support.served_settings import served_with
from tests.support.servers import Server, serve
from tests.support.sessions import logged_in_session
from tests.support.ws_upstream import WebSocketUpstream

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAIT = 20
TOKEN = "at-websocket-user-token-0123456789"


@pytest.fixture(scope="module")
def upstream() -> Iterator[WebSocketUpstream]:
    with WebSocketUpstream() as server:
        yield server


@pytest.fixture
def served(upstream: WebSocketUpstream, transactional_db: Any) -> Iterator[Server]:
    routes = [
        {"PREFIX": "ws/chat/", "TARGET": f"{upstream.url}/socket/", "TOKEN_TYPE": "user", "ALLOW_INSECURE": True},
        {"PREFIX": "ws/public/", "TARGET": f"{upstream.url}/public/", "TOKEN_TYPE": "none", "ALLOW_INSECURE": True},
    ]
    bff = {
        "REMOTE_APIS": routes,
        "WEBSOCKET_SESSION_CHECK_INTERVAL": 0.2,
        "WEBSOCKET_MAX_MESSAGE": 64 * 1024,
        "WEBSOCKET_ALLOWED_ORIGINS": ["https://app.example.com"],
        "REVOKE_REFRESH_TOKEN_ON_LOGOUT": False,
    }
    env = {**served_with(bff), "BFF_TEST_DB": str(django_settings.DATABASES["default"]["NAME"])}
    with serve("uvicorn", env) as server:
        yield server


@pytest.fixture
def logged_in(settings: Any, bff_client: Any, user: Any) -> Any:
    settings.BFF = {**settings.BFF, "REVOKE_REFRESH_TOKEN_ON_LOGOUT": False}
    token = UserToken(
        access_token=TOKEN, refresh_token="rt-ws", expires_at=datetime.now(timezone.utc) + timedelta(hours=1)
    )
    logged_in_session(bff_client, user, token)
    return bff_client


def open_socket(
    server: Server, path: str, client: Any = None, origin: str | None = "own", **options: Any
) -> ClientConnection:
    headers = {"Authorization": "Bearer made-up-by-the-browser", "X-Real-IP": "203.0.113.9", "X-CSRF": "1"}
    if client is not None:
        headers["Cookie"] = (
            f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}"
        )
    return connect(
        server.url.replace("http://", "ws://") + path,
        origin=server.url if origin == "own" else origin,  # type: ignore[arg-type]  # None: no Origin header at all
        additional_headers=headers,
        open_timeout=WAIT,
        **options,
    )


def refused(server: Server, path: str, **options: Any) -> int:
    with pytest.raises(InvalidStatus) as caught:
        open_socket(server, path, **options)
    return caught.value.response.status_code


def test_a_logged_in_sessions_socket_reaches_the_upstream_with_the_users_token(
    served: Server, upstream: WebSocketUpstream, logged_in: Any
) -> None:
    before = len(upstream.seen)
    with open_socket(served, "/ws/chat/room/7?since=3", logged_in, subprotocols=["chat.v1", "x"]) as socket:
        assert socket.subprotocol == "chat.v1"  # negotiated end to end: the upstream chose among the browser's
        socket.send("hello")
        assert socket.recv(WAIT) == "hello"
    seen = upstream.seen[before]
    assert seen.path == "/socket/room/7?since=3"
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert not {"cookie", "x-csrf", "x-real-ip"} & set(seen.headers)  # the header policy of HTTP calls
    assert seen.headers["x-forwarded-for"] == "127.0.0.1"  # set by the BFF
    assert seen.headers["origin"] == served.url and seen.subprotocol == "chat.v1"


@pytest.mark.parametrize("origin", ["https://evil.example", None, "http://127.0.0.1:1"])
def test_a_wrong_or_missing_origin_is_refused(
    served: Server, upstream: WebSocketUpstream, logged_in: Any, origin: Any
) -> None:
    before = len(upstream.seen)
    assert refused(served, "/ws/chat/room", client=logged_in, origin=origin) == 403
    assert len(upstream.seen) == before


def test_an_allowed_origin_of_the_settings_is_let_through(served: Server, logged_in: Any) -> None:
    with open_socket(served, "/ws/chat/room", logged_in, origin="https://app.example.com") as socket:
        socket.send("hi")
        assert socket.recv(WAIT) == "hi"


def test_an_anonymous_session_on_a_user_route_is_refused(served: Server, upstream: WebSocketUpstream) -> None:
    before = len(upstream.seen)
    assert refused(served, "/ws/chat/room") == 401
    assert len(upstream.seen) == before
    with open_socket(served, "/ws/public/feed") as socket:  # a route without a token needs no login
        socket.send("hi")
        assert socket.recv(WAIT) == "hi"
    assert "authorization" not in upstream.seen[-1].headers


def test_frames_of_every_kind_pass_both_ways(served: Server, logged_in: Any) -> None:
    with open_socket(served, "/ws/chat/room", logged_in) as socket:
        socket.send("text é")
        assert socket.recv(WAIT) == "text é"
        socket.send(b"\x00\x01binary\xff")
        assert socket.recv(WAIT) == b"\x00\x01binary\xff"
        socket.send("big:60000")
        assert socket.recv(WAIT) == "x" * 60000
        assert socket.ping(b"from-browser").wait(WAIT)  # answered on the browser's hop
        socket.send("ping")  # the upstream pings the BFF, whose pong comes back
        assert socket.recv(WAIT) == "pong-received"


def test_a_message_over_the_limit_closes_with_1009(served: Server, logged_in: Any) -> None:
    with open_socket(served, "/ws/chat/room", logged_in) as socket:
        socket.send("big:70000")
        with pytest.raises(ConnectionClosed):
            socket.recv(WAIT)
        assert socket.close_code == 1009


def test_the_upstreams_close_code_reaches_the_browser(
    served: Server, upstream: WebSocketUpstream, logged_in: Any
) -> None:
    with open_socket(served, "/ws/chat/room", logged_in) as socket:
        socket.send("close:4321:room closed")
        with pytest.raises(ConnectionClosed):
            socket.recv(WAIT)
        assert (socket.close_code, socket.close_reason) == (4321, "room closed")


def test_the_browsers_close_code_reaches_the_upstream(
    served: Server, upstream: WebSocketUpstream, logged_in: Any
) -> None:
    with open_socket(served, "/ws/chat/room", logged_in) as socket:
        socket.send("hi")
        socket.recv(WAIT)
        seen = upstream.seen[-1]
        socket.close(4000, "bye")
    assert seen.closed.wait(WAIT) and seen.close_code == 4000


@pytest.mark.parametrize("how", ["logout", "back-channel logout"])
def test_the_sessions_end_closes_its_open_socket(
    served: Server, upstream: WebSocketUpstream, logged_in: Any, how: str
) -> None:
    from django_bff.sessions import end_sessions

    with open_socket(served, "/ws/chat/room", logged_in) as socket:
        socket.send("hi")
        assert socket.recv(WAIT) == "hi"
        seen = upstream.seen[-1]
        if how == "logout":
            logged_in.logout()  # what /bff/logout does to the session: Django's logout
        else:
            assert end_sessions(sid="sid-1") == 1  # what a back-channel logout does
        with pytest.raises(ConnectionClosed):
            socket.recv(WAIT)
        assert (socket.close_code, socket.close_reason) == (1008, "session_ended")
    assert seen.closed.wait(WAIT) and seen.close_code == 1001


def test_a_plain_http_request_to_the_route_is_answered_426(served: Server) -> None:
    import requests

    response = requests.get(served.url + "/ws/chat/room", headers={"X-CSRF": "1"}, timeout=WAIT)
    assert response.status_code == 426 and response.json() == {"error": "websocket_required"}
