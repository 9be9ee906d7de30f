"""Routes made with remote_api() in a URLconf: the same rules as the BFF["REMOTE_APIS"] ones."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.proxy_browser import Browser, body, route
from tests.support.upstream import RawUpstream, Upstream

pytestmark = pytest.mark.django_db(transaction=True)


# --- remote_api() in urls.py ---------------------------------------------------------------------------


def test_remote_api_validates_at_once() -> None:
    from django.core.exceptions import ImproperlyConfigured

    from django_bff.proxy import remote_api

    with pytest.raises(ImproperlyConfigured, match="not https"):
        remote_api("api/x/", "http://api.example.com/")
    with pytest.raises(ImproperlyConfigured, match="absolute"):
        remote_api("api/x/", "/relative/")
    with pytest.raises(ImproperlyConfigured, match="relative path"):
        remote_api("/api/x/", "https://api.example.com/")
    with pytest.raises(TypeError, match="colour"):
        remote_api("api/x/", "https://api.example.com/", colour="red")
    with pytest.raises(ValueError):
        remote_api("api/x/", "https://api.example.com/", token_type="admin")
    with pytest.raises(ImproperlyConfigured, match="AccessTokenRetriever"):
        remote_api("api/x/", "https://api.example.com/", retriever="django_bff.tokens.UserToken")
    with pytest.raises(ImproperlyConfigured, match="unknown client"):
        remote_api("api/x/", "https://api.example.com/", token_type="client", client="billing")
    with pytest.raises(ImproperlyConfigured, match="optional must be True or False"):
        remote_api("api/x/", "https://api.example.com/", optional="no")
    with pytest.raises(ImproperlyConfigured, match="require_authentication must be True or False"):
        remote_api("api/x/", "https://api.example.com/", require_authentication="yes")

    from django_bff.proxy import RemoteAPIView

    class BillingView(RemoteAPIView):
        client = "billing"

    with pytest.raises(ImproperlyConfigured, match="unknown client 'billing'"):
        BillingView.as_view(upstream="https://api.example.com/")
    pattern = remote_api("api/x", "https://api.example.com/", token_type="client", name="x-api")
    assert pattern.name == "x-api" and pattern.pattern.regex.match("api/x/a/b")


def test_under_asgi_the_body_streams_as_an_async_iterator(
    routes: Any, settings: Any, async_client: Any, upstream: Upstream
) -> None:
    """The thread path under ASGI (``PROXY_ASYNC`` off); the async path's twin is in test_async_view.py."""
    from asgiref.sync import async_to_sync

    from tests.support.upstream import pattern_bytes

    settings.BFF = {**settings.BFF, "PROXY_ASYNC": False}

    async def fetch() -> tuple[Any, bytes]:
        response = await async_client.get("/api/none/download?size=200000", headers={"X-CSRF": "1"})
        assert response.is_async
        return response, b"".join([chunk async for chunk in response.streaming_content])

    response, data = async_to_sync(fetch)()
    assert response.status_code == 200 and data == pattern_bytes(200000)
    assert response["Content-Length"] == "200000"


def test_under_asgi_leaving_a_quiet_stream_frees_the_upstream_connection_at_once(
    routes: Any, async_client: Any, leak_guard: Any
) -> None:
    """The browser leaves while a stream thread waits for the next event: the read is interrupted.

    Without it, the thread and the upstream connection stayed held until the next
    event or the read timeout, and closing the generator from another thread while
    that thread was inside it raised "generator already executing".
    """
    import asyncio

    from asgiref.sync import async_to_sync

    with RawUpstream() as raw:
        raw.answer("quiet", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nevent1\r\n")
        routes(route("api/raw/", raw.url + "/v1/", TOKEN_TYPE="none"), PROXY_READ_TIMEOUT=120, PROXY_ASYNC=False)

        async def leave() -> bytes:
            response = await async_client.get("/api/raw/quiet", headers={"X-CSRF": "1"})
            chunks = response.streaming_content.__aiter__()
            first: bytes = await chunks.__anext__()
            waiting = asyncio.ensure_future(chunks.__anext__())  # no second event will come
            await asyncio.sleep(0.1)  # the read is under way in a stream thread
            waiting.cancel()  # the server's reaction to a disconnect
            try:
                await waiting
            except asyncio.CancelledError:
                pass
            await asyncio.get_running_loop().run_in_executor(None, response.close)
            return first

        assert async_to_sync(leave)() == b"event1"
        assert raw.closed("quiet").wait(20)  # long before the 120 s read timeout
    assert not any("interrupted" in r.getMessage() for r in leak_guard.records)


def test_interrupting_a_body_whose_connection_is_gone_is_harmless() -> None:
    import urllib3

    from django_bff.proxy.transport import _UpstreamBody

    body = _UpstreamBody(urllib3.HTTPResponse(body=b"", preload_content=False), 1024)
    body.interrupt()  # no socket to shut down (released, closed, or never had one)
    assert body.abandoned


def test_upstream_dying_mid_body_cuts_the_response(routes: Any, browser: Browser, leak_guard: Any) -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def half_answer() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
        conn.close()
        listener.close()

    thread = threading.Thread(target=half_answer)
    thread.start()
    routes(route("api/flaky/", f"http://127.0.0.1:{port}/", TOKEN_TYPE="none"))
    response = browser.call("GET", "/api/flaky/x")
    thread.join()
    assert response.status_code == 200 and body(response) == b"partial"
    assert any("interrupted" in r.getMessage() for r in leak_guard.records)


#: Every refusal of the proxy: its class, status and code, and its branch of the tree.
REFUSALS = [
    ("AntiforgeryRequired", 401, "antiforgery_header_required", "BFFRequestError"),
    ("CsrfFailed", 403, "csrf_failed", "BFFRequestError"),
    ("InvalidContentLength", 400, "invalid_content_length", "BFFRequestError"),
    ("InvalidProxyPath", 400, "invalid_path", "BFFRequestError"),
    ("LengthRequired", 411, "length_required", "BFFRequestError"),
    ("RequestBodyTooLarge", 413, "request_body_too_large", "BFFRequestError"),
    ("UpstreamUnavailable", 502, "upstream_unavailable", "UpstreamError"),
    ("UpstreamInvalidResponse", 502, "upstream_invalid_response", "UpstreamError"),
    ("UpstreamTimeout", 504, "upstream_timeout", "UpstreamError"),
]


@pytest.mark.parametrize(("name", "status", "code", "branch"), REFUSALS)
def test_request_and_upstream_errors_are_separate_branches(name: str, status: int, code: str, branch: str) -> None:
    from django_bff import exceptions

    error = getattr(exceptions, name)
    assert (error.status_code, error.default_code) == (status, code)
    assert issubclass(error, getattr(exceptions, branch)) and issubclass(error, exceptions.BFFError)
    other = "UpstreamError" if branch == "BFFRequestError" else "BFFRequestError"
    assert not issubclass(error, getattr(exceptions, other))
    assert issubclass(error, exceptions.ProxyError) == (branch == "UpstreamError")


def test_the_branches_answer_their_own_defaults() -> None:
    from django_bff.exceptions import BFFRequestError, ProxyError, UpstreamError

    assert ProxyError is UpstreamError
    assert (BFFRequestError.status_code, BFFRequestError.default_code) == (400, "bad_request")
    assert (UpstreamError.status_code, UpstreamError.default_code) == (502, "proxy_error")


# --- WebSocket routes: a ws:// or wss:// target -------------------------------------------------------


def test_a_websocket_target_is_validated_like_an_http_one(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from django_bff.proxy import remote_api

    assert remote_api("ws/chat/", "wss://chat.example.com/socket/").pattern.regex.match("ws/chat/room")
    with pytest.raises(ImproperlyConfigured, match="not https or wss"):
        remote_api("ws/chat/", "ws://chat.example.com/socket/")
    assert remote_api("ws/chat/", "ws://chat.example.com/socket/", allow_insecure=True)
    with pytest.raises(ImproperlyConfigured, match="absolute"):
        remote_api("ws/chat/", "wss://chat.example.com/socket/?room=1")


@pytest.mark.parametrize("method", ["get", "post", "put"])
def test_a_plain_http_request_to_a_websocket_route_is_answered_426(settings: Any, client: Any, method: str) -> None:
    from tests.support.urlconf import use_current_routes

    settings.BFF = {
        **settings.BFF,
        "REMOTE_APIS": [{"PREFIX": "ws/chat/", "TARGET": "wss://chat.example.com/socket/", "TOKEN_TYPE": "user"}],
    }
    use_current_routes(settings)
    response = getattr(client, method)("/ws/chat/room", HTTP_X_CSRF="1")
    assert response.status_code == 426 and response.json() == {"error": "websocket_required"}
    # The HTTP routes are as they were.
    assert client.get("/ws/other").status_code == 404


@pytest.mark.parametrize("proxy_async", [True, False])
def test_under_asgi_a_plain_http_request_to_a_websocket_route_is_answered_426(
    settings: Any, async_client: Any, proxy_async: bool
) -> None:
    from asgiref.sync import async_to_sync

    from tests.support.urlconf import use_current_routes

    settings.BFF = {
        **settings.BFF,
        "PROXY_ASYNC": proxy_async,
        "REMOTE_APIS": [{"PREFIX": "ws/chat/", "TARGET": "wss://chat.example.com/socket/", "TOKEN_TYPE": "user"}],
    }
    use_current_routes(settings)
    response = async_to_sync(async_client.get)("/ws/chat/room", HTTP_X_CSRF="1")
    assert response.status_code == 426 and response.json() == {"error": "websocket_required"}
