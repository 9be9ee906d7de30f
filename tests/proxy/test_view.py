"""The proxy view: the happy path, the header policy and the behaviour table of DESIGN.md."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
import responses
from django.test import Client

from django_bff.testing import sample_token
from tests.support.proxy_browser import PAST, TOKEN_URL, Browser, body, read, route
from tests.support.retrievers import CountingRetriever
from tests.support.upstream import Upstream

pytestmark = pytest.mark.django_db(transaction=True)


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
