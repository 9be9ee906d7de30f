"""The remote API proxy: the behaviour table of DESIGN.md, header policy, retrievers, token types."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import responses
from django.test import Client

from django_bff.retrievers import (
    AccessTokenRetrievalContext,
    AccessTokenRetriever,
    DPoPTokenResult,
)
from django_bff.stores import get_token_store
from django_bff.testing import UserTokenStoreContract, sample_token
from tests.support.retrievers import CountingRetriever, PatternRetriever
from tests.support.upstream import RawUpstream, Upstream
from tests.support.urlconf import use_current_routes

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_URL = "http://127.0.0.1:9/token"
PAST = datetime.now(timezone.utc) - timedelta(minutes=5)


def route(prefix: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"PREFIX": prefix, "TARGET": target, "ALLOW_INSECURE": True, **extra}


@pytest.fixture
def routes(settings: Any, upstream: Upstream) -> Any:
    upstream.clear()

    def set_routes(*entries: dict[str, Any], **bff: Any) -> None:
        settings.BFF = {**settings.BFF, "REMOTE_APIS": list(entries), **bff}
        use_current_routes(settings)

    set_routes(
        route("api/user/", upstream.url + "/v1/"),
        route("api/none/", upstream.url + "/v1/", TOKEN_TYPE="none"),
        route("api/optional/", upstream.url + "/v1/", OPTIONAL=True),
        route("api/either/", upstream.url + "/v1/", TOKEN_TYPE="user_or_client"),
        route("api/client/", upstream.url + "/v1/", TOKEN_TYPE="client"),
    )
    return set_routes


class Browser:
    """A logged-in browser: a test client whose session has tokens."""

    def __init__(self, client: Client, user: Any, token: Any) -> None:
        self.client = client
        client.force_login(user)
        key = client.cookies["sessionid"].value
        request = UserTokenStoreContract().new_request(key, user)
        get_token_store().store_token(request, token)
        request.session.save()

    def call(self, method: str, path: str, **extra: Any) -> Any:
        extra.setdefault("HTTP_X_CSRF", "1")
        return read(self.client.generic(method, path, **extra))


def read(response: Any) -> Any:
    """Read a response whole, as a browser does (which also closes it)."""
    response.body_bytes = b"".join(response.streaming_content) if response.streaming else response.content
    return response


def body(response: Any) -> bytes:
    return response.body_bytes if hasattr(response, "body_bytes") else read(response).body_bytes


@pytest.fixture
def browser(client: Client, user: Any, leak_guard: Any) -> Browser:
    leak_guard.add_token(sample_token(1))
    return Browser(client, user, sample_token(1))


# --- the happy path and the header policy ------------------------------------------------------------


def test_user_route_sends_the_token_and_nothing_of_the_browser(
    routes: Any, browser: Browser, upstream: Upstream
) -> None:
    response = browser.call(
        "POST",
        "/api/user/orders/42?expand=items&x=%2F",
        data=b'{"qty": 1}',
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer browser-supplied",
        HTTP_DPOP="browser-proof",
        HTTP_X_FORWARDED_FOR="6.6.6.6",
        HTTP_X_FORWARDED_HOST="evil.example",
        HTTP_FORWARDED="for=6.6.6.6",
        HTTP_X_CUSTOM="kept",
        HTTP_CONNECTION="X-Drop-Me",
        HTTP_X_DROP_ME="dropped",
        HTTP_TE="trailers",
        HTTP_EXPECT="100-continue",
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 200
    seen = upstream.last
    assert seen["method"] == "POST" and seen["raw_path"] == "/v1/orders/42" and seen["query"] == "expand=items&x=%2F"
    assert seen["body_length"] == 10
    headers = seen["headers"]
    assert headers["authorization"] == f"Bearer {sample_token(1).access_token}"
    assert headers["content-type"] == "application/json" and headers["x-custom"] == "kept"
    assert headers["x-forwarded-for"] == "10.1.2.3"
    assert headers["x-forwarded-proto"] == "http" and headers["x-forwarded-host"] == "testserver"
    for name in ("cookie", "dpop", "forwarded", "x-csrf", "x-drop-me", "te", "connection", "expect"):
        assert name not in headers, name
    assert "sessionid" not in json.dumps(headers)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_passes(routes: Any, browser: Browser, upstream: Upstream, method: str) -> None:
    response = browser.call(method, "/api/none/x")
    assert response.status_code == 200 and upstream.last["method"] == method


def test_trace_is_refused(routes: Any, browser: Browser, upstream: Upstream) -> None:
    response = browser.call("TRACE", "/api/none/x")
    assert response.status_code == 405 and response.json() == {"error": "method_not_allowed"}
    assert response["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    assert upstream.requests == []


def test_response_headers_status_and_body_come_back(routes: Any, browser: Browser) -> None:
    hop = browser.call("GET", "/api/none/hop")
    assert hop.status_code == 200 and body(hop) == b"hop"
    assert hop["X-Public"] == "yes"
    for name in ("X-Private", "Keep-Alive", "Proxy-Authenticate", "Connection", "Server", "Date"):
        assert not hop.has_header(name), name
    cookie = browser.call("GET", "/api/none/cookie")
    assert not cookie.has_header("Set-Cookie") and "upstream" not in cookie.cookies
    compressed = browser.call("GET", "/api/none/gzip")
    assert compressed["Content-Encoding"] == "gzip" and gzip.decompress(body(compressed)) == b"compressed hello"


def test_redirects_are_not_followed(routes: Any, browser: Browser, upstream: Upstream) -> None:
    response = browser.call("GET", "/api/none/redirect")
    assert response.status_code == 302 and response["Location"] == "http://evil.example/steal"
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_upstream_errors_pass_through(routes: Any, browser: Browser, status: int) -> None:
    response = browser.call("GET", f"/api/user/status/{status}")
    assert response.status_code == status and json.loads(body(response)) == {"status": status}
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")


# --- the behaviour table --------------------------------------------------------------------------


def test_missing_antiforgery_header_is_401_before_any_token_work(
    routes: Any, browser: Browser, upstream: Upstream
) -> None:
    routes(route("api/user/", upstream.url + "/v1/", RETRIEVER="tests.support.retrievers.CountingRetriever"))
    CountingRetriever.calls = 0
    for headers in ({"HTTP_X_CSRF": ""}, {"HTTP_X_CSRF": "0"}, {"HTTP_X_CSRF": "true"}):
        response = browser.call("POST", "/api/user/x", **headers)
        assert response.status_code == 401 and response.json() == {"error": "antiforgery_header_required"}
    assert CountingRetriever.calls == 0 and upstream.requests == []


def test_configurable_antiforgery_header(routes: Any, browser: Browser, upstream: Upstream) -> None:
    routes(
        route("api/none/", upstream.url + "/v1/", TOKEN_TYPE="none"),
        ANTIFORGERY_HEADER="X-Requested-By",
        ANTIFORGERY_VALUE="app",
    )
    assert browser.call("GET", "/api/none/x").status_code == 401
    assert browser.call("GET", "/api/none/x", HTTP_X_REQUESTED_BY="app").status_code == 200
    assert "x-requested-by" not in upstream.last["headers"]


def test_route_opted_out_of_the_header_falls_back_to_django_csrf(routes: Any, upstream: Upstream) -> None:
    from django.middleware.csrf import get_token
    from django.test import RequestFactory

    routes(route("api/form/", upstream.url + "/v1/", TOKEN_TYPE="none", ANTIFORGERY=False))
    csrf_client = Client(enforce_csrf_checks=True)
    assert read(csrf_client.get("/api/form/x")).status_code == 200
    refused = read(csrf_client.post("/api/form/x", data=b"a", content_type="text/plain"))
    assert refused.status_code == 403 and refused.json() == {"error": "csrf_failed"}
    assert read(csrf_client.put("/api/form/x", data=b"a", content_type="text/plain")).status_code == 403
    # With Django's token in its header, a multipart body goes through untouched (never parsed).
    token = get_token(RequestFactory().get("/"))
    csrf_client.cookies["csrftoken"] = token
    multipart = b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nhello\r\n--b--\r\n'
    ok = read(
        csrf_client.post(
            "/api/form/upload", data=multipart, content_type="multipart/form-data; boundary=b", HTTP_X_CSRFTOKEN=token
        )
    )
    assert ok.status_code == 200
    assert upstream.last["body_length"] == len(multipart)


def test_anonymous_on_a_user_route_is_401_never_a_redirect(routes: Any, client: Client, upstream: Upstream) -> None:
    response = read(client.get("/api/user/x", HTTP_X_CSRF="1"))
    assert response.status_code == 401 and response.json() == {"error": "not_authenticated"}
    assert upstream.requests == []


@responses.activate
def test_refresh_answered_invalid_grant_is_session_expired(
    routes: Any, client: Client, user: Any, upstream: Upstream
) -> None:
    responses.add_passthru(upstream.url)
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    browser = Browser(client, user, sample_token(1, expires_at=PAST))
    response = browser.call("GET", "/api/user/x")
    assert response.status_code == 401 and response.json() == {"error": "session_expired"}
    assert upstream.requests == []
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("answer", [{"status": 502, "body": "bad"}, {"status": 200, "body": "<html>"}])
@responses.activate
def test_idp_trouble_is_503_with_retry_after_and_keeps_the_session(
    routes: Any, client: Client, user: Any, upstream: Upstream, answer: dict[str, Any]
) -> None:
    responses.add_passthru(upstream.url)
    responses.post(TOKEN_URL, **answer)
    browser = Browser(client, user, sample_token(1, expires_at=PAST))
    response = browser.call("GET", "/api/user/x")
    assert response.status_code == 503 and response.json() == {"error": "token_service_unavailable"}
    assert response["Retry-After"] == "5"
    assert upstream.requests == []
    assert client.session["_auth_user_id"] == str(user.pk)


@responses.activate
def test_expired_token_is_refreshed_transparently(routes: Any, client: Client, user: Any, upstream: Upstream) -> None:
    responses.add_passthru(upstream.url)
    responses.post(TOKEN_URL, json={"access_token": "fresh-access-token-XXXX", "expires_in": 300})
    browser = Browser(client, user, sample_token(1, expires_at=PAST))
    assert browser.call("GET", "/api/user/x").status_code == 200
    assert upstream.last["headers"]["authorization"] == "Bearer fresh-access-token-XXXX"


def test_upstream_unreachable_is_502(routes: Any, browser: Browser) -> None:
    from tests.support.redis_server import free_port

    routes(route("api/down/", f"http://127.0.0.1:{free_port()}/", TOKEN_TYPE="none"))
    response = browser.call("GET", "/api/down/x")
    assert response.status_code == 502 and response.json() == {"error": "upstream_unavailable"}


def test_upstream_too_slow_is_504(routes: Any, browser: Browser, upstream: Upstream) -> None:
    routes(route("api/none/", upstream.url + "/v1/", TOKEN_TYPE="none"), PROXY_READ_TIMEOUT=0.3)
    response = browser.call("GET", "/api/none/slow?seconds=1")
    assert response.status_code == 504 and response.json() == {"error": "upstream_timeout"}


@pytest.mark.parametrize(
    "path", ["/api/none/../secret", "/api/none/a//b", "/api/none/a\\b", "/api/none/%00", "/api/none/%252e%252e/x"]
)
def test_bad_paths_are_400_and_nothing_is_sent(routes: Any, browser: Browser, upstream: Upstream, path: str) -> None:
    response = browser.call("GET", path)
    assert response.status_code == 400 and response.json() == {"error": "invalid_path"}
    assert upstream.requests == []


def test_encoded_slash_is_refused_when_the_server_gives_the_raw_path(
    routes: Any, browser: Browser, upstream: Upstream
) -> None:
    response = browser.call("GET", "/api/none/a/b", RAW_URI="/api/none/a%2Fb")
    assert response.status_code == 400 and upstream.requests == []


def test_body_over_the_limit_is_413(routes: Any, browser: Browser, upstream: Upstream) -> None:
    routes(route("api/none/", upstream.url + "/v1/", TOKEN_TYPE="none"), MAX_REQUEST_BODY=10)
    response = browser.call("POST", "/api/none/x", data=b"x" * 11, content_type="text/plain")
    assert response.status_code == 413 and response.json() == {"error": "request_body_too_large"}
    assert browser.call("POST", "/api/none/x", data=b"x" * 10, content_type="text/plain").status_code == 200
    assert len(upstream.requests) == 1


def test_chunked_upload_is_411(routes: Any, browser: Browser, upstream: Upstream) -> None:
    response = browser.call("POST", "/api/none/x", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411 and upstream.requests == []


@pytest.mark.parametrize("value", ["abc", "-1"])
def test_bad_content_length_is_400(routes: Any, browser: Browser, upstream: Upstream, value: str) -> None:
    response = browser.call("POST", "/api/none/x", CONTENT_LENGTH=value)
    assert response.status_code == 400 and response.json() == {"error": "invalid_content_length"}
    assert upstream.requests == []


# --- token types --------------------------------------------------------------------------------------


def test_none_route_sends_no_token(routes: Any, browser: Browser, upstream: Upstream) -> None:
    assert browser.call("GET", "/api/none/x").status_code == 200
    assert "authorization" not in upstream.last["headers"]


def test_optional_user_token(routes: Any, client: Client, user: Any, upstream: Upstream) -> None:
    assert read(client.get("/api/optional/x", HTTP_X_CSRF="1")).status_code == 200
    assert "authorization" not in upstream.last["headers"]
    client.force_login(user)  # logged in, but no tokens: still fine
    assert read(client.get("/api/optional/x", HTTP_X_CSRF="1")).status_code == 200
    Browser(client, user, sample_token(2))
    read(client.get("/api/optional/x", HTTP_X_CSRF="1"))
    assert upstream.last["headers"]["authorization"] == f"Bearer {sample_token(2).access_token}"


@responses.activate
def test_client_route_and_user_or_client(routes: Any, client: Client, user: Any, upstream: Upstream) -> None:
    responses.add_passthru(upstream.url)
    responses.post(TOKEN_URL, json={"access_token": "app-token-CCCCCCCC", "expires_in": 300})
    for _ in range(5):
        assert read(client.get("/api/client/x", HTTP_X_CSRF="1")).status_code == 200
    assert upstream.last["headers"]["authorization"] == "Bearer app-token-CCCCCCCC"
    assert len(responses.calls) == 1
    assert read(client.get("/api/either/x", HTTP_X_CSRF="1")).status_code == 200
    assert upstream.last["headers"]["authorization"] == "Bearer app-token-CCCCCCCC"
    Browser(client, user, sample_token(3))
    read(client.get("/api/either/x", HTTP_X_CSRF="1"))
    assert upstream.last["headers"]["authorization"] == f"Bearer {sample_token(3).access_token}"


@responses.activate
def test_a_client_route_can_require_a_logged_in_user(
    routes: Any, client: Client, user: Any, upstream: Upstream
) -> None:
    responses.add_passthru(upstream.url)
    responses.post(TOKEN_URL, json={"access_token": "app-token-DDDDDDDD", "expires_in": 300})
    routes(route("api/app/", upstream.url + "/v1/", TOKEN_TYPE="client", REQUIRE_AUTHENTICATION=True))
    response = read(client.get("/api/app/x", HTTP_X_CSRF="1"))
    assert response.status_code == 401 and response.json() == {"error": "not_authenticated"}
    assert upstream.requests == [] and len(responses.calls) == 0  # no token work for the anonymous call
    client.force_login(user)
    assert read(client.get("/api/app/x", HTTP_X_CSRF="1")).status_code == 200
    assert upstream.last["headers"]["authorization"] == "Bearer app-token-DDDDDDDD"


@responses.activate
def test_client_token_trouble(routes: Any, client: Client, upstream: Upstream) -> None:
    responses.add_passthru(upstream.url)
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    response = read(client.get("/api/client/x", HTTP_X_CSRF="1"))
    # A refusal a new login cannot fix: 502, never 401 (DESIGN: "never 401" for CLIENT routes).
    assert response.status_code == 502 and response.json() == {"error": "token_service_error"}
    responses.replace(responses.POST, TOKEN_URL, status=503)
    response = read(client.get("/api/client/x", HTTP_X_CSRF="1"))
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert upstream.requests == []


# --- retrievers ---------------------------------------------------------------------------------------


def test_retriever_precedence_route_then_pattern_then_default(
    routes: Any, browser: Browser, upstream: Upstream
) -> None:
    routes(
        route("api/own/", upstream.url + "/v1/", RETRIEVER="tests.support.retrievers.RouteRetriever"),
        route("api/reports/", upstream.url + "/v1/"),
        route("api/user/", upstream.url + "/v1/"),
        ACCESS_TOKEN_RETRIEVERS=[
            {"PATTERN": r"^/api/(own|reports)/", "RETRIEVER": "tests.support.retrievers.PatternRetriever"},
            {"PATTERN": r"^/api/reports/", "RETRIEVER": "tests.support.retrievers.NoTokenRetriever"},
        ],
    )
    PatternRetriever.instances.clear()
    browser.call("GET", "/api/own/x")
    assert upstream.last["headers"]["authorization"] == "Bearer route-retriever-token"
    browser.call("GET", "/api/reports/x")
    browser.call("GET", "/api/reports/y")
    assert upstream.last["headers"]["authorization"] == "Bearer pattern-retriever-token"
    assert len(PatternRetriever.instances) == 2  # one instance per request
    browser.call("GET", "/api/user/x")
    assert upstream.last["headers"]["authorization"] == f"Bearer {sample_token(1).access_token}"


def test_a_retriever_returning_garbage_is_a_server_error(routes: Any, browser: Browser, upstream: Upstream) -> None:
    routes(route("api/broken/", upstream.url + "/v1/", RETRIEVER="tests.support.retrievers.BrokenRetriever"))
    response = browser.call("GET", "/api/broken/x")
    assert response.status_code == 500 and upstream.requests == []


def test_dpop_token_gets_a_proof_and_one_nonce_retry(routes: Any, browser: Browser, upstream: Upstream) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private_jwk = jwt.algorithms.ECAlgorithm.to_jwk(key)

    class DPoPRetriever(AccessTokenRetriever):
        def get_access_token(self, context: AccessTokenRetrievalContext) -> Any:
            return DPoPTokenResult("dpop-bound-token-DDDD", private_jwk)

    from django_bff.proxy import RemoteAPIView

    view = RemoteAPIView.as_view(upstream=upstream.url + "/v1/", retriever_class=DPoPRetriever, allow_insecure=True)
    from django.test import RequestFactory

    request = RequestFactory().get("/api/dpop/dpop-nonce", HTTP_X_CSRF="1")
    request.user = browser.client.session  # not used by this retriever
    response = view(request, path="dpop-nonce")
    assert response.status_code == 200 and json.loads(body(response)) == {"nonce": True}
    first, second = upstream.requests[-2:]
    assert first["headers"]["authorization"] == second["headers"]["authorization"] == "DPoP dpop-bound-token-DDDD"
    claims = jwt.decode(
        second["headers"]["dpop"], jwt.PyJWK(json.loads(private_jwk)).key.public_key(), algorithms=["ES256"]
    )
    assert (
        claims["htm"] == "GET"
        and claims["htu"] == upstream.url + "/v1/dpop-nonce"
        and claims["nonce"] == Upstream.NONCE
    )
    assert claims["ath"] and first["headers"]["dpop"] != second["headers"]["dpop"]
    assert "d" not in jwt.get_unverified_header(second["headers"]["dpop"])["jwk"]


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


def test_under_asgi_the_body_streams_as_an_async_iterator(routes: Any, async_client: Any, upstream: Upstream) -> None:
    from asgiref.sync import async_to_sync

    from tests.support.upstream import pattern_bytes

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
        routes(route("api/raw/", raw.url + "/v1/", TOKEN_TYPE="none"), PROXY_READ_TIMEOUT=120)

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
