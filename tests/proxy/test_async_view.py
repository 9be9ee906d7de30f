"""The async path under ASGI (``BFF["PROXY_ASYNC"]``): the same behaviour as the thread path, with no thread.

Each case runs through Django's ``async_client`` (an ``ASGIRequest`` in an
event loop). The thread path's token function and pool are made to fail, so a
case that passes has gone through the async twins and ``httpx``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, async_to_sync, iscoroutinefunction, sync_to_async
from django.db import connection
from django.test import Client

from django_bff.proxy import async_transport
from django_bff.proxy.view import RemoteAPIView
from django_bff.testing import sample_token
from tests.support.proxy_browser import Browser, asgi_call, route
from tests.support.upstream import RawUpstream, Upstream, pattern_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def on(routes: Any, upstream: Upstream, settings: Any, monkeypatch: Any) -> Any:
    """PROXY_ASYNC on; the thread path's token function and pool fail if reached."""
    routes(
        route("api/user/", upstream.url + "/v1/"),
        route("api/none/", upstream.url + "/v1/", TOKEN_TYPE="none"),
        route("api/optional/", upstream.url + "/v1/", OPTIONAL=True),
        PROXY_ASYNC=True,
    )

    def thread_path(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the thread path was taken")

    monkeypatch.setattr("django_bff.retrievers.get_user_access_token", thread_path)
    monkeypatch.setattr("django_bff.proxy.view.get_proxy_pool", thread_path)
    return routes


@pytest.fixture
def browser(client: Client, user: Any, leak_guard: Any, async_client: Any) -> Iterator[Any]:
    leak_guard.add_token(sample_token(1))
    Browser(client, user, sample_token(1))
    async_client.cookies = client.cookies
    yield async_client


call = asgi_call


def test_the_view_is_a_coroutine_view_only_in_an_event_loop_with_the_setting(
    on: Any, settings: Any, monkeypatch: Any
) -> None:
    from django.conf import settings as django_settings

    view = RemoteAPIView.as_view(upstream="https://api.example.com/")
    assert not iscoroutinefunction(view)  # no loop here: WSGI, the test Client

    async def inside() -> bool:
        return iscoroutinefunction(view)

    assert async_to_sync(inside)()
    with monkeypatch.context() as patch:
        patch.setitem(django_settings.DATABASES["default"], "ATOMIC_REQUESTS", True)
        assert not async_to_sync(inside)()  # Django would refuse a coroutine view in a transaction
    assert async_to_sync(inside)()
    settings.BFF = {**settings.BFF, "PROXY_ASYNC": False}
    assert not async_to_sync(inside)()


def test_the_hot_path_budget_holds_under_asgi(on: Any, settings: Any, user: Any, upstream: Upstream) -> None:
    """As tests/proxy/test_budget.py pins for the thread path: one cache round trip (the session), no write."""
    from datetime import datetime, timedelta, timezone

    from django.test import AsyncClient

    from tests.support import counting_cache
    from tests.support.sessions import logged_in_session

    settings.CACHES = {"default": {"BACKEND": "tests.support.counting_cache.CountingLocMemCache"}}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.BFF = {**settings.BFF, "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore"}}
    now = datetime.now(timezone.utc)
    client = Client()
    logged_in_session(client, user, sample_token(1, issued_at=now, expires_at=now + timedelta(hours=1)))
    async_client = AsyncClient()
    async_client.cookies = client.cookies
    assert call(async_client, "GET", "/api/user/x")[0].status_code == 200  # warm: the token in memory
    counting_cache.CALLS.clear()
    assert call(async_client, "GET", "/api/user/x")[0].status_code == 200
    assert counting_cache.round_trips() == 1, dict(counting_cache.CALLS)
    assert counting_cache.writes() == 0


def test_a_user_call_goes_through_the_async_twins_and_httpx(on: Any, browser: Any, upstream: Upstream) -> None:
    response, data = call(browser, "GET", "/api/user/orders?x=1")
    assert response.status_code == 200, data
    seen = upstream.last
    assert seen["headers"]["authorization"] == f"Bearer {sample_token(1).access_token}"
    assert seen["raw_path"] == "/v1/orders" and seen["query"] == "x=1"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "method, path, extra, status, error",
    [
        ("GET", "/api/user/x", {"headers": {}}, 401, "antiforgery_header_required"),
        ("GET", "/api/user/a/%2e%2e/b", {}, 400, "invalid_path"),
        ("GET", "/api/user/a//b", {}, 400, "invalid_path"),
        ("TRACE", "/api/user/x", {}, 405, "method_not_allowed"),
    ],
)
def test_refusals_before_any_token_work(
    on: Any, browser: Any, upstream: Upstream, method: str, path: str, extra: dict[str, Any], status: int, error: str
) -> None:
    response, data = call(browser, method, path, **extra)
    assert response.status_code == status and json.loads(data)["error"] == error, data
    assert upstream.requests == []


def test_anonymous_on_a_user_route_is_401_and_optional_sends_no_token(
    on: Any, async_client: Any, upstream: Upstream
) -> None:
    response, data = call(async_client, "GET", "/api/user/x")
    assert response.status_code == 401 and upstream.requests == []
    response, data = call(async_client, "GET", "/api/optional/x")
    assert response.status_code == 200 and "authorization" not in upstream.last["headers"]


def test_body_limits(on: Any, browser: Any, upstream: Upstream, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "MAX_REQUEST_BODY": 10}
    response, data = call(browser, "POST", "/api/none/x", data=b"x" * 11, content_type="text/plain")
    assert response.status_code == 413 and upstream.requests == []
    headers = {"X-CSRF": "1", "Transfer-Encoding": "chunked"}
    response, data = call(browser, "POST", "/api/none/x", data=b"", content_type="text/plain", headers=headers)
    assert response.status_code == 411 and upstream.requests == []


@pytest.mark.parametrize("size", [1000, 3 * 1024 * 1024])  # in memory, and past FILE_UPLOAD_MAX_MEMORY_SIZE
def test_the_body_is_sent_whole_with_its_length(on: Any, browser: Any, upstream: Upstream, size: int) -> None:
    body = pattern_bytes(size)
    response, data = call(browser, "POST", "/api/none/upload", data=body, content_type="application/octet-stream")
    assert response.status_code == 200
    assert upstream.last["body_length"] == size
    assert upstream.last["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert upstream.last["headers"]["content-length"] == str(size)
    assert "transfer-encoding" not in upstream.last["headers"]


def test_the_header_policy_both_ways(on: Any, browser: Any, upstream: Upstream) -> None:
    sent = {
        "X-CSRF": "1",
        "Authorization": "Bearer browser",
        "X-Forwarded-For": "6.6.6.6",
        "X-Real-IP": "6.6.6.6",
        "Connection": "X-Secret",
        "X-Secret": "s",
        "X-Kept": "yes",
    }
    call(browser, "GET", "/api/user/x", headers=sent)
    seen = upstream.last["headers"]
    assert seen["authorization"].startswith("Bearer ") and seen["authorization"] != "Bearer browser"
    assert seen["x-forwarded-for"] == "127.0.0.1" and "x-real-ip" not in seen
    assert "x-secret" not in seen and "x-csrf" not in seen and "cookie" not in seen
    assert seen["x-kept"] == "yes"
    assert "accept-encoding" not in seen  # httpx's own defaults are not added
    response, data = call(browser, "GET", "/api/none/cookie")
    assert "Set-Cookie" not in response and data == b"ok"
    assert response["Content-Type"] == "application/octet-stream"
    response, data = call(browser, "GET", "/api/none/hop")
    assert response["X-Public"] == "yes" and "X-Private" not in response and "Keep-Alive" not in response


def test_upstream_answers_pass_through_redirects_are_not_followed(on: Any, browser: Any, upstream: Upstream) -> None:
    response, data = call(browser, "GET", "/api/none/status/401")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    response, data = call(browser, "GET", "/api/none/redirect")
    assert response.status_code == 302 and len(upstream.requests) == 2
    response, data = call(browser, "GET", "/api/none/gzip")
    assert response["Content-Encoding"] == "gzip" and data != b"compressed hello"  # passed on undecoded


def test_unreachable_is_502_and_too_slow_is_504(on: Any, browser: Any, upstream: Upstream, routes: Any) -> None:
    from tests.support.redis_server import free_port

    routes(
        route("api/down/", f"http://127.0.0.1:{free_port()}/", TOKEN_TYPE="none"),
        route("api/none/", upstream.url + "/v1/", TOKEN_TYPE="none"),
        PROXY_ASYNC=True,
        PROXY_READ_TIMEOUT=0.2,
    )
    response, data = call(browser, "GET", "/api/down/x")
    assert response.status_code == 502 and json.loads(data)["error"] == "upstream_unavailable"
    response, data = call(browser, "GET", "/api/none/slow?seconds=2")
    assert response.status_code == 504 and json.loads(data)["error"] == "upstream_timeout"


@pytest.mark.parametrize(
    "line",
    [b"Content-Length: 2x", b"X-Bad: secret\x00value", b"X-Bad: secret\x1bvalue", b"X(Bad): secretvalue"],
    ids=["length", "nul", "escape", "name"],
)
def test_an_answer_that_cannot_be_passed_on_is_502(
    on: Any, browser: Any, routes: Any, leak_guard: Any, line: bytes
) -> None:
    """As on the thread path (tests/proxy/test_headers.py), whether httpx or the header rules refuse it."""
    with RawUpstream() as raw:
        raw.answer("bad", b"HTTP/1.1 200 OK\r\n" + line + b"\r\nContent-Length: 2\r\n\r\n{}")
        routes(route("api/raw/", raw.url + "/v1/", TOKEN_TYPE="none"), PROXY_ASYNC=True)
        response, data = call(browser, "GET", "/api/raw/bad")
        assert response.status_code == 502 and json.loads(data)["error"] == "upstream_invalid_response"
        assert b"secret" not in data and "secret" not in str(response.items())
        # httpcore's DEBUG trace repeats the line it could not parse (docs/proxy.rst says so); nothing above.
        kept = [r for r in leak_guard.records if r.levelno >= logging.INFO]
        assert kept and not any("secret" in r.getMessage() for r in kept)
        assert raw.closed("bad").wait(10)


def test_a_dpop_nonce_refusal_is_retried_once_with_the_body(on: Any, client: Client, user: Any, routes: Any) -> None:
    from tests.support.dpop_tokens import bound_token

    with Upstream() as up:
        routes(route("api/dpop/", up.url + "/v1/"), PROXY_ASYNC=True)
        bound = bound_token()
        Browser(client, user, bound.user_token())
        from django.test import AsyncClient

        async_client = AsyncClient()
        async_client.cookies = client.cookies
        response, data = call(async_client, "POST", "/api/dpop/dpop-nonce", data=b"{}", content_type="text/plain")
        assert response.status_code == 200, data
        assert [r["body_length"] for r in up.requests] == [2, 2]  # refused once, then sent again whole
        assert up.requests[1]["headers"]["authorization"] == f"DPoP {bound.access_token}"


def test_one_client_per_event_loop_closed_with_the_settings(on: Any, settings: Any) -> None:
    async def client() -> Any:
        return async_transport.get_async_proxy_client()

    async def twice() -> tuple[Any, Any]:
        return await client(), await client()

    first, again = async_to_sync(twice)()
    assert first is again  # one per loop
    other = asyncio.run(client())
    assert other is not first  # another loop, another client
    settings.BFF = {**settings.BFF, "PROXY_CONNECT_TIMEOUT": 3.0}
    assert asyncio.run(client()).timeout.connect == 3.0


def test_a_quiet_stream_is_left_without_a_thread(on: Any, browser: Any, routes: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("django_bff.proxy.transport._stream_executor", pytest.fail)  # the thread path's readers
    with RawUpstream() as raw:
        raw.answer("quiet", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nevent1\r\n")
        routes(route("api/raw/", raw.url + "/v1/", TOKEN_TYPE="none"), PROXY_ASYNC=True, PROXY_READ_TIMEOUT=120)

        async def leave() -> bytes:
            response = await browser.get("/api/raw/quiet", headers={"X-CSRF": "1"})
            chunks = response.streaming_content.__aiter__()
            first: bytes = await chunks.__anext__()
            waiting = asyncio.ensure_future(chunks.__anext__())  # no second event will come
            await asyncio.sleep(0.1)
            waiting.cancel()  # the server's reaction to a disconnect
            try:
                await waiting
            except asyncio.CancelledError:
                pass
            await async_transport.aclose_async_proxy_client()
            return first

        assert async_to_sync(leave)() == b"event1"
        assert raw.closed("quiet").wait(20)  # long before the 120 s read timeout


def test_the_request_thread_ends_while_a_stream_of_unknown_length_is_read() -> None:
    """Django's thread for the request ends (its database connections closed); later sync code gets another."""

    def thread_and_connection() -> tuple[Any, Any]:
        connection.ensure_connection()
        return threading.current_thread(), connection.connection

    async def request() -> tuple[Any, Any, Any, Any]:
        async with ThreadSensitiveContext():
            thread, opened = await sync_to_async(thread_and_connection)()
            await async_transport._release_request_thread()
            thread.join(5)
            after, _ = await sync_to_async(thread_and_connection)()
            return thread, opened, after, thread.is_alive()

    thread, opened, after, alive = asyncio.run(request())  # an event loop as a server's: no sync caller
    assert not alive and after is not thread
    with pytest.raises(Exception, match="closed"):
        opened.execute("select 1")  # closed in its thread before the thread ended

    async def owned(executor: ThreadPoolExecutor) -> None:
        async with ThreadSensitiveContext(executor=executor):
            await sync_to_async(thread_and_connection)()
            await async_transport._release_request_thread()  # its creator's: left alone

    with ThreadPoolExecutor(1) as executor:
        asyncio.run(owned(executor))
        assert executor.submit(lambda: 1).result(5) == 1
    asyncio.run(async_transport._release_request_thread())  # outside any context: nothing to do
