"""User token management end to end: the real identity provider over HTTP, real Redis, real workers."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.cache import caches

from django_bff.exceptions import AccessTokenUnavailable
from django_bff.http import UserAccessTokenAuth
from django_bff.signals import token_response_received
from django_bff.stores import get_token_store
from django_bff.token_manager import _in_doubt_key, _lock_key, get_user_access_token, revoke_refresh_token
from django_bff.tokens import TokenError, UserTokenRequestParameters
from tests.support.idp import API_RESOURCE, IdentityProvider
from tests.support.login import browser_login, expire, point_at, session_request
from tests.support.resource_api import ResourceAPI

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PAST = datetime.now(timezone.utc) - timedelta(minutes=10)


def sha(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value else None


class Received:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        token_response_received.connect(self, dispatch_uid="test-received")

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.events.append(kwargs)

    def close(self) -> None:
        token_response_received.disconnect(dispatch_uid="test-received")


@pytest.fixture
def received() -> Any:
    r = Received()
    yield r
    r.close()


@pytest.mark.database
def test_login_keeps_tokens_encrypted_and_serves_them_without_the_idp(
    oidc: Any, bff_client: Any, received: Any
) -> None:
    browser_login(bff_client)
    assert oidc.stats()["token"]["authorization_code"] == 1
    [event] = received.events
    token, response = event["token"], event["token_response"]
    assert set(response) >= {"access_token", "refresh_token", "id_token", "expires_in", "token_type"}
    assert token.refresh_token == response["refresh_token"] and token.identity_token == response["id_token"]
    assert 100 < token.expires_in() <= 120
    assert event["user"].email == "alice@example.test"

    # Nothing at rest holds a token in clear text.
    secrets = [token.access_token, token.refresh_token, token.identity_token]
    for row in Session.objects.all():
        raw = row.session_data + json.dumps(row.get_decoded())
        assert not any(s in raw for s in secrets)

    result = get_user_access_token(session_request(bff_client))
    assert result.token == token
    page = bff_client.get("/token/")
    assert page.json()["token_sha256"] == sha(token.access_token)
    assert not any(s in page.content.decode() for s in secrets)
    assert oidc.stats()["token"]["refresh_token"] == 0


def test_login_with_the_cache_store_on_redis_keeps_no_clear_text(
    oidc: Any, bff_client: Any, received: Any, settings: Any, redis_cache: str
) -> None:
    import redis

    settings.BFF = {**settings.BFF, "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore"}}
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    browser_login(bff_client)
    token = received.events[0]["token"]
    client = redis.Redis.from_url(redis_cache)
    values = [client.get(key) or b"" for key in client.keys("*")]
    assert any(b"bff:tokens:" in key for key in client.keys("*"))
    for secret in (token.access_token, token.refresh_token, token.identity_token):
        assert not any(secret.encode() in value for value in values)
    assert get_user_access_token(session_request(bff_client)).token == token


def test_login_with_save_tokens_off_only_sends_the_signal(
    oidc: Any, bff_client: Any, received: Any, settings: Any
) -> None:
    settings.BFF = {**settings.BFF, "SAVE_TOKENS": False}
    browser_login(bff_client)
    assert len(received.events) == 1
    assert get_user_access_token(session_request(bff_client)).error is TokenError.NO_TOKEN


@pytest.mark.database
def test_after_expiry_exactly_one_refresh_and_the_rotated_token_is_stored(oidc: Any, bff_client: Any) -> None:
    browser_login(bff_client)
    old = expire(bff_client)
    digests = {bff_client.get("/token/").json()["token_sha256"] for _ in range(3)}
    assert oidc.stats()["token"]["refresh_token"] == 1
    new = get_token_store().get_token(session_request(bff_client))
    assert digests == {sha(new.access_token)}
    assert new.access_token != old.access_token
    assert new.refresh_token and new.refresh_token != old.refresh_token
    assert new.expires_in() > 100


@pytest.mark.database
def test_twenty_threads_one_refresh(oidc: Any, bff_client: Any, redis_cache: str) -> None:
    browser_login(bff_client)
    expire(bff_client)
    barrier = threading.Barrier(20)

    def one_request(_: int) -> Any:
        request = session_request(bff_client)
        barrier.wait()
        return get_user_access_token(request)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one_request, range(20)))
    assert [r.error for r in results] == [None] * 20
    assert len({r.access_token for r in results}) == 1
    assert oidc.stats()["token"]["refresh_token"] == 1
    assert get_token_store().get_token(session_request(bff_client)).access_token == results[0].access_token


@pytest.fixture(
    params=[
        "cache",
        pytest.param("db", marks=pytest.mark.database),
        pytest.param("cached_db", marks=pytest.mark.database),
    ]
)
def workers(request: Any, oidc: Any, redis_cache: str, settings: Any) -> Any:
    """Four gunicorn worker processes serving tests.urls, sharing Redis and the test database.

    Sessions (and so SessionTokenStore's records) live in Redis, the database, or both (cached_db).
    """
    from tests.support.servers import serve

    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{request.param}"
    assert oidc.token_endpoint == oidc.issuer + "/token" and oidc.jwks_uri == oidc.issuer + "/jwks"
    env = {
        "BFF_TEST_DB": django_settings.DATABASES["default"]["NAME"],
        "BFF_TEST_REDIS_URL": redis_cache,
        "BFF_TEST_SESSION_ENGINE": settings.SESSION_ENGINE,
        "BFF_TEST_ISSUER": oidc.issuer,
    }
    with serve("gunicorn-sync", env, workers=4) as server:
        yield server.url


def test_worker_processes_sharing_redis_make_one_refresh(workers: str, oidc: Any, bff_client: Any) -> None:
    browser_login(bff_client)
    old = expire(bff_client)
    cookie = {django_settings.SESSION_COOKIE_NAME: bff_client.cookies[django_settings.SESSION_COOKIE_NAME].value}
    barrier = threading.Barrier(20)

    def one_request(_: int) -> dict[str, Any]:
        barrier.wait()
        return requests.get(workers + "/token/", cookies=cookie, timeout=30).json()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(one_request, range(20)))
    assert [a["error"] for a in answers] == [None] * 20
    assert len({a["token_sha256"] for a in answers}) == 1
    assert answers[0]["token_sha256"] != sha(old.access_token)
    assert len({a["pid"] for a in answers}) >= 2, "the requests did not spread over several processes"
    assert oidc.stats()["token"]["refresh_token"] == 1


@pytest.mark.database
def test_invalid_grant_from_the_idp_ends_the_session(oidc: Any, bff_client: Any) -> None:
    browser_login(bff_client)
    # Revoking the refresh token at the provider (as logout does) revokes the grant.
    assert revoke_refresh_token(session_request(bff_client)) is True
    assert oidc.stats()["revocations"] == 1
    request = session_request(bff_client)
    result = get_user_access_token(request, UserTokenRequestParameters(force_renewal=True))
    assert result.error is TokenError.SESSION_EXPIRED
    assert oidc.stats()["token_errors"].get("invalid_grant") == 1
    answer = bff_client.get("/token/").json()
    assert answer["error"] == "not_authenticated"
    assert not Session.objects.filter(session_key=request.session.session_key).exists()


def test_reusing_a_rotated_refresh_token_is_what_we_prevent(oidc: Any, bff_client: Any) -> None:
    """Without single flight, the second refresh with the same token kills the grant."""
    browser_login(bff_client)
    token = get_token_store().get_token(session_request(bff_client))
    first = requests.post(
        oidc.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": token.refresh_token},
        auth=("bff", "bff-secret"),
        timeout=10,
    )
    second = requests.post(
        oidc.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": token.refresh_token},
        auth=("bff", "bff-secret"),
        timeout=10,
    )
    assert first.status_code == 200 and second.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("mode", ["500", "html", "slow"])
def test_idp_trouble_over_http_is_transient(oidc: Any, bff_client: Any, settings: Any, mode: str) -> None:
    settings.BFF = {**settings.BFF, "BACKCHANNEL_READ_TIMEOUT": 1.0, "REFRESH_LOCK_TIMEOUT": 5.0}
    browser_login(bff_client)
    old = expire(bff_client)
    oidc.fail(mode, count=1, delay=3)
    request = session_request(bff_client)
    result = get_user_access_token(request)
    assert result.error is TokenError.TOKEN_SERVICE_UNAVAILABLE and result.retry_after
    assert request.user.is_authenticated
    assert get_token_store().get_token(session_request(bff_client)).refresh_token == old.refresh_token
    if mode != "slow":
        # Once the provider is healthy, the same session refreshes.
        assert get_user_access_token(session_request(bff_client)).error is None
        return
    # The refresh timed out after it was sent: its refresh token is in doubt, and nobody
    # sends it again while the provider may still be working on it (it is: 3 s).
    assert result.retry_after >= 2
    again = get_user_access_token(session_request(bff_client))
    assert again.error is TokenError.TOKEN_SERVICE_UNAVAILABLE and again.retry_after
    assert oidc.stats()["token"]["refresh_token"] == 1
    # The slow provider finished the refresh after we gave up: it rotated the refresh
    # token we kept, so the refresh after the doubt is a reuse, and rotation revokes the
    # grant. A provider's reuse interval longer than the doubt would save the session
    # (docs/token-management: timeouts).
    marker = _in_doubt_key(old)
    deadline = time.monotonic() + 10
    while caches["default"].get(marker) is not None or caches["default"].get(_lock_key(old)) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert get_user_access_token(session_request(bff_client)).error is TokenError.SESSION_EXPIRED
    assert oidc.stats()["token"]["refresh_token"] == 2


def test_idp_stopped_is_transient_and_keeps_tokens(settings: Any, bff_client: Any, transactional_db: Any) -> None:
    provider = IdentityProvider(access_token_ttl=120)
    provider.start()
    try:
        point_at(settings, provider)
        browser_login(bff_client)
        old = expire(bff_client)
    finally:
        provider.stop()
    request = session_request(bff_client)
    result = get_user_access_token(request)
    assert result.error is TokenError.TOKEN_SERVICE_UNAVAILABLE and result.transient
    assert request.user.is_authenticated
    kept = get_token_store().get_token(session_request(bff_client))
    assert kept.refresh_token == old.refresh_token


@pytest.fixture
def api(oidc: Any) -> Any:
    with ResourceAPI(oidc.jwks_uri, oidc.issuer, API_RESOURCE) as resource:
        yield resource


def test_user_access_token_auth_attaches_and_renews_once(oidc: Any, api: Any, bff_client: Any) -> None:
    browser_login(bff_client)
    request = session_request(bff_client)
    first = requests.get(api.url + "/orders?x=1", auth=UserAccessTokenAuth(request), timeout=10)
    assert first.status_code == 200 and first.json()["sub"] == "alice"
    api.reject_next(1)
    second = requests.post(
        api.url + "/orders", data=b"{}", auth=UserAccessTokenAuth(session_request(bff_client)), timeout=10
    )
    assert second.status_code == 200 and [r.status_code for r in second.history] == [401]
    seen = api.requests
    assert seen[1]["token"] != seen[2]["token"] and seen[2]["body"] == b"{}"
    assert oidc.stats()["token"]["refresh_token"] == 1
    # A 401 twice in a row is passed on after one renewal.
    api.reject_next(2)
    third = requests.get(api.url + "/x", auth=UserAccessTokenAuth(session_request(bff_client)), timeout=10)
    assert third.status_code == 401 and oidc.stats()["token"]["refresh_token"] == 2


def test_user_access_token_auth_does_not_replay_a_stream(oidc: Any, api: Any, bff_client: Any) -> None:
    browser_login(bff_client)
    api.reject_next(1)
    body = iter([b"chunk-1", b"chunk-2"])
    response = requests.post(
        api.url + "/upload", data=body, auth=UserAccessTokenAuth(session_request(bff_client)), timeout=10
    )
    assert response.status_code == 401
    assert oidc.stats()["token"]["refresh_token"] == 0


def test_user_access_token_auth_without_a_session_raises(oidc: Any, api: Any, bff_client: Any) -> None:
    from tests.support.token_sessions import anonymous_request

    with pytest.raises(AccessTokenUnavailable) as info:
        requests.get(api.url + "/x", auth=UserAccessTokenAuth(anonymous_request()), timeout=10)
    assert info.value.error == "not_authenticated" and info.value.status_code == 401
    assert api.requests == []


@pytest.mark.database
def test_tokens_for_a_resource_share_the_sessions_rotating_refresh_token(oidc: Any, bff_client: Any) -> None:
    """With rotation, a second copy of the refresh token would revoke the grant on its next use."""
    browser_login(bff_client)
    api = UserTokenRequestParameters(resource=API_RESOURCE)
    first = get_user_access_token(session_request(bff_client), api)
    assert first.token and first.token.resource == API_RESOURCE
    # Now the session's own token expires: its refresh token must be the rotated one.
    expire(bff_client)
    again = get_user_access_token(session_request(bff_client))
    assert again.error is None, again
    assert oidc.stats()["token"]["refresh_token"] == 2
    assert oidc.stats()["token_errors"].get("invalid_grant") is None
    assert get_user_access_token(session_request(bff_client), api).token == first.token


def test_client_access_token_auth_attaches_and_renews_once(oidc: Any, api: Any) -> None:
    from django_bff.http import ClientAccessTokenAuth

    first = requests.get(api.url + "/catalog", auth=ClientAccessTokenAuth(), timeout=10)
    assert first.status_code == 200 and first.json()["sub"] == "bff"
    requests.get(api.url + "/catalog", auth=ClientAccessTokenAuth(), timeout=10)
    assert oidc.stats()["token"]["client_credentials"] == 1  # cached
    api.reject_next(1)
    renewed = requests.post(api.url + "/catalog", data=b"{}", auth=ClientAccessTokenAuth(), timeout=10)
    assert renewed.status_code == 200 and [r.status_code for r in renewed.history] == [401]
    assert oidc.stats()["token"]["client_credentials"] == 2
    oidc.fail("500")
    with pytest.raises(AccessTokenUnavailable) as info:
        requests.get(api.url + "/catalog", auth=ClientAccessTokenAuth(scope="api"), timeout=10)
    assert info.value.error == "token_service_unavailable" and info.value.status_code == 503
