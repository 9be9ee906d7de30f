from __future__ import annotations

import base64
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.core.cache import caches
from urllib3.exceptions import MaxRetryError, NewConnectionError

from django_bff.exceptions import TokenStoreConflict
from django_bff.locks import CacheLock
from django_bff.signals import token_refresh_failed, token_refreshed
from django_bff.stores import SessionTokenStore, get_token_store
from django_bff.testing import UserTokenStoreContract, sample_token
from django_bff.token_manager import (
    _lock_key,
    aget_user_access_token,
    arevoke_refresh_token,
    get_user_access_token,
    revoke_refresh_token,
)
from django_bff.tokens import TokenError, UserTokenRequestParameters
from tests.support.token_sessions import Session, anonymous_request

TOKEN_URL = "http://127.0.0.1:9/token"
REVOKE_URL = "http://127.0.0.1:9/revoke"
PAST = datetime.now(timezone.utc) - timedelta(minutes=5)


@pytest.fixture
def expired(user: Any, leak_guard: Any) -> Session:
    token = sample_token(1, expires_at=PAST)
    leak_guard.add_token(token)
    return Session(user, token)


@pytest.fixture
def signals() -> Any:
    seen: dict[str, list[dict[str, Any]]] = {"refreshed": [], "failed": []}

    def refreshed(sender: Any, **kw: Any) -> None:
        seen["refreshed"].append(kw)

    def failed(sender: Any, **kw: Any) -> None:
        seen["failed"].append(kw)

    token_refreshed.connect(refreshed)
    token_refresh_failed.connect(failed)
    yield seen
    token_refreshed.disconnect(refreshed)
    token_refresh_failed.disconnect(failed)


def refresh_answer(n: int = 2, **extra: Any) -> dict[str, Any]:
    body = {"access_token": f"new-access-{n}-XXXXXXXX", "token_type": "Bearer", "expires_in": 300}
    body.update(extra)
    return body


pytestmark = pytest.mark.django_db(transaction=True)


@responses.activate
def test_fresh_token_needs_no_call(user: Any) -> None:
    session = Session(user, sample_token(1))
    result = get_user_access_token(session.request())
    assert result.token == sample_token(1) and not result.is_error and result
    assert len(responses.calls) == 0


@responses.activate
def test_expired_token_is_refreshed_once_and_rotation_stored(expired: Session, signals: Any) -> None:
    responses.post(TOKEN_URL, json=refresh_answer(2, refresh_token="rotated-refresh-2-YYYYYYY"))
    result = get_user_access_token(expired.request())
    assert result.access_token == "new-access-2-XXXXXXXX"
    assert len(responses.calls) == 1
    call = responses.calls[0].request
    form = parse_qs(call.body)
    assert form == {"grant_type": ["refresh_token"], "refresh_token": [sample_token(1).refresh_token]}
    assert call.headers["Authorization"] == "Basic " + base64.b64encode(b"bff:bff-secret").decode()
    stored = expired.stored()
    assert stored.refresh_token == "rotated-refresh-2-YYYYYYY"
    assert stored.identity_token == sample_token(1).identity_token
    assert 290 < stored.expires_in() <= 300
    # The next request finds the fresh token: no second refresh.
    assert get_user_access_token(expired.request()).access_token == "new-access-2-XXXXXXXX"
    assert len(responses.calls) == 1
    assert len(signals["refreshed"]) == 1 and signals["refreshed"][0]["token"] == stored


@responses.activate
def test_old_refresh_token_kept_when_none_is_returned(expired: Session) -> None:
    responses.post(TOKEN_URL, json=refresh_answer())
    assert get_user_access_token(expired.request()).token
    assert expired.stored().refresh_token == sample_token(1).refresh_token


@responses.activate
def test_refresh_inside_the_window_before_expiry(user: Any, settings: Any) -> None:
    session = Session(user, sample_token(1, expires_at=datetime.now(timezone.utc) + timedelta(seconds=30)))
    responses.post(TOKEN_URL, json=refresh_answer())
    assert get_user_access_token(session.request()).access_token == "new-access-2-XXXXXXXX"
    settings.BFF = {**settings.BFF, "REFRESH_BEFORE_EXPIRATION": 10}
    session2 = Session(user, sample_token(3, expires_at=datetime.now(timezone.utc) + timedelta(seconds=30)))
    assert get_user_access_token(session2.request()).token == sample_token(3, expires_at=session2.stored().expires_at)
    assert len(responses.calls) == 1


@responses.activate
def test_force_renewal_and_parameters_reach_the_token_service(user: Any) -> None:
    session = Session(user, sample_token(1))
    responses.post(TOKEN_URL, json=refresh_answer())
    params = UserTokenRequestParameters(
        force_renewal=True, scope="api", resource="urn:api", context={"acr": "x", "grant_type": "evil"}
    )
    # Per-resource tokens: store one for urn:api first.
    get_token_store().store_token(session.request(), sample_token(5, resource="urn:api"), params)
    result = get_user_access_token(session.request(), params)
    assert result.access_token == "new-access-2-XXXXXXXX"
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["refresh_token"] and form["scope"] == ["api"] and form["resource"] == ["urn:api"]
    assert form["acr"] == ["x"]
    assert get_token_store().get_token(session.request(), params).resource == "urn:api"
    assert session.stored() == sample_token(1)


@responses.activate
def test_the_callers_assertion_authenticates_its_refresh(expired: Session, leak_guard: Any) -> None:
    assertion = "eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJjYWxsZXIifQ.c2lnbmF0dXJl"  # the caller's, not the service's
    leak_guard.add(assertion)
    responses.post(TOKEN_URL, json=refresh_answer(2))
    result = get_user_access_token(
        expired.request(), UserTokenRequestParameters(force_renewal=True, assertion=assertion)
    )
    assert result.access_token == "new-access-2-XXXXXXXX"
    call = responses.calls[0].request
    form = parse_qs(call.body)
    assert form["client_assertion"] == [assertion] and form["client_id"] == ["bff"]
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assert "client_secret" not in form and "Authorization" not in call.headers  # not the client's own secret
    assert assertion not in repr(UserTokenRequestParameters(assertion=assertion))


@responses.activate
def test_invalid_grant_ends_the_session(expired: Session, signals: Any) -> None:
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "grant revoked"})
    request = expired.request()
    result = get_user_access_token(request)
    assert result.error is TokenError.SESSION_EXPIRED and not result.transient and not result
    assert not request.user.is_authenticated
    assert expired.stored() is None
    assert "_auth_user_id" not in expired.request().session
    assert signals["failed"][0]["error"] is TokenError.SESSION_EXPIRED


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500, "json": {"error": "server_error"}},
        {"status": 503, "body": "down", "headers": {"Retry-After": "7"}},
        {"status": 200, "body": "<html>login</html>", "content_type": "text/html"},
        {"status": 200, "json": ["not", "an", "object"]},
        {"status": 200, "json": {"token_type": "Bearer"}},
        {"body": requests.ConnectTimeout("slow")},
        # urllib3's stubs want a pool and a connection where a failed connect gives None
        {"body": requests.ConnectionError(MaxRetryError(None, TOKEN_URL, NewConnectionError(None, "refused")))},  # type: ignore[arg-type]
    ],
    ids=[
        "500",
        "503-retry-after",
        "html",
        "json-list",
        "no-access-token",
        "connect-timeout",
        "refused",
    ],
)
@responses.activate
def test_token_service_trouble_is_transient_and_keeps_tokens(
    expired: Session, signals: Any, answer: dict[str, Any]
) -> None:
    responses.post(TOKEN_URL, **answer)
    request = expired.request()
    result = get_user_access_token(request)
    assert result.error is TokenError.TOKEN_SERVICE_UNAVAILABLE and result.transient
    assert result.retry_after == (7 if answer.get("headers") else 5)
    assert request.user.is_authenticated
    assert expired.stored() == sample_token(1, expires_at=PAST)
    assert signals["failed"][0]["transient"] is True


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 401, "json": {"error": "invalid_client"}},
        {"status": 400, "json": {"message": "no OAuth error code"}},
        {"status": 400, "json": {"error": "bad code <script>"}},
    ],
)
@responses.activate
def test_other_rejections_keep_the_session(expired: Session, answer: dict[str, Any]) -> None:
    responses.post(TOKEN_URL, **answer)
    result = get_user_access_token(expired.request())
    assert result.error is TokenError.TOKEN_SERVICE_ERROR and not result.transient and result.retry_after is None
    assert expired.stored() == sample_token(1, expires_at=PAST)


def test_anonymous_and_tokenless_sessions(user: Any) -> None:
    assert get_user_access_token(anonymous_request()).error is TokenError.NOT_AUTHENTICATED
    assert get_user_access_token(UserTokenStoreContract().new_request(user=user)).error is TokenError.NO_TOKEN


@responses.activate
def test_expired_without_refresh_token(user: Any, signals: Any) -> None:
    session = Session(user, sample_token(1, expires_at=PAST, refresh_token=None))
    assert get_user_access_token(session.request()).error is TokenError.NO_TOKEN
    assert len(responses.calls) == 0 and signals["failed"]


@responses.activate
def test_waiter_gives_up_after_the_bounded_wait(expired: Session, settings: Any, signals: Any) -> None:
    settings.BFF = {**settings.BFF, "REFRESH_LOCK_WAIT": 0.3}
    request = expired.request()
    lock = CacheLock(caches["default"], _lock_key(sample_token(1)), 30)
    assert lock.acquire()
    try:
        result = get_user_access_token(request)
    finally:
        lock.release()
    assert result.error is TokenError.REFRESH_LOCK_TIMEOUT and result.transient and result.retry_after == 5
    assert len(responses.calls) == 0


@pytest.mark.parametrize("driver", ["sync", "async"])
@responses.activate
def test_waiter_takes_the_token_another_worker_stored(expired: Session, driver: str) -> None:
    get = get_user_access_token if driver == "sync" else async_to_sync(aget_user_access_token)
    request = expired.request()
    lock = CacheLock(caches["default"], _lock_key(sample_token(1)), 30)
    assert lock.acquire()

    def other_worker() -> None:
        other = expired.request()
        get_token_store().get_token(other)
        get_token_store().store_token(other, sample_token(9))
        lock.release()

    timer = threading.Timer(0.2, other_worker)
    timer.start()
    result = get(request)
    timer.join()
    assert result.token == sample_token(9)
    assert len(responses.calls) == 0


@responses.activate
def test_waiter_sees_the_session_ended_by_the_other_worker(expired: Session) -> None:
    request = expired.request()
    lock = CacheLock(caches["default"], _lock_key(sample_token(1)), 30)
    assert lock.acquire()

    def other_worker() -> None:
        get_token_store().clear_token(expired.request())
        lock.release()

    timer = threading.Timer(0.1, other_worker)
    timer.start()
    assert get_user_access_token(request).error is TokenError.SESSION_EXPIRED
    timer.join()


@responses.activate
def test_lock_holder_rereads_and_skips_refresh(expired: Session, monkeypatch: Any) -> None:
    # Read an expired token, then (before the lock) another worker refreshes.
    request = expired.request()
    store = get_token_store()

    class Racing(SessionTokenStore):
        calls = 0

        def get_token(self, request: Any, parameters: Any = None) -> Any:
            Racing.calls += 1
            token = super().get_token(request, parameters)
            if Racing.calls == 1:
                other = expired.request()
                store.get_token(other)
                store.store_token(other, sample_token(7))
            return token

    from django_bff import token_manager
    from django_bff.token_manager import flow, user

    racing = Racing()
    monkeypatch.setattr(user, "get_token_store", lambda: racing)
    result = flow.run_sync(token_manager._user_token_flow(request, UserTokenRequestParameters()))
    assert result.token == sample_token(7)
    assert len(responses.calls) == 0


@responses.activate
def test_conflicting_write_returns_the_newer_token(expired: Session, monkeypatch: Any) -> None:
    responses.post(TOKEN_URL, json=refresh_answer())
    request = expired.request()

    class Conflicting(SessionTokenStore):
        def store_token(self, request: Any, token: Any, parameters: Any = None) -> None:
            other = expired.request()
            SessionTokenStore.get_token(self, other)
            SessionTokenStore.store_token(self, other, sample_token(8))
            raise TokenStoreConflict("newer")

    from django_bff.token_manager import user

    monkeypatch.setattr(user, "get_token_store", lambda: Conflicting())
    result = get_user_access_token(request)
    assert result.token == sample_token(8)


@responses.activate
def test_async_twin_refreshes(expired: Session) -> None:
    responses.post(TOKEN_URL, json=refresh_answer())
    result = async_to_sync(aget_user_access_token)(expired.request())
    assert result.access_token == "new-access-2-XXXXXXXX"
    assert expired.stored().access_token == "new-access-2-XXXXXXXX"


@responses.activate
def test_async_twin_invalid_grant(expired: Session) -> None:
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    request = expired.request()
    result = async_to_sync(aget_user_access_token)(request)
    assert result.error is TokenError.SESSION_EXPIRED
    assert expired.stored() is None


@responses.activate
def test_revoke_refresh_token(user: Any, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "REVOCATION_ENDPOINT": REVOKE_URL}
    session = Session(user, sample_token(1))
    responses.post(REVOKE_URL, status=200)
    assert revoke_refresh_token(session.request()) is True
    form = parse_qs(responses.calls[0].request.body)
    assert form == {"token": [sample_token(1).refresh_token], "token_type_hint": ["refresh_token"]}
    assert async_to_sync(arevoke_refresh_token)(session.request()) is True
    responses.replace(responses.POST, REVOKE_URL, body=requests.ConnectionError("down"))
    assert revoke_refresh_token(session.request()) is False
    responses.replace(responses.POST, REVOKE_URL, status=400, json={"error": "unsupported_token_type"})
    assert revoke_refresh_token(session.request()) is False


@responses.activate
def test_revoke_without_refresh_token_or_endpoint(user: Any, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "AUTHORITY": None}
    assert revoke_refresh_token(Session(user, sample_token(1)).request()) is False
    settings.BFF = {**settings.BFF, "REVOCATION_ENDPOINT": REVOKE_URL}
    assert revoke_refresh_token(Session(user, sample_token(1, refresh_token=None)).request()) is False
    assert len(responses.calls) == 0


def test_async_view_refreshes_through_auser(async_client: Any, client: Any, user: Any) -> None:
    import hashlib

    client.force_login(user)
    key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    request = UserTokenStoreContract().new_request(key, user)
    get_token_store().store_token(request, sample_token(1, expires_at=PAST))
    request.session.save()
    async_client.cookies[django_settings.SESSION_COOKIE_NAME] = key

    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json=refresh_answer())
        response = async_to_sync(async_client.get)("/atoken/")
    assert response.json()["token_sha256"] == hashlib.sha256(b"new-access-2-XXXXXXXX").hexdigest()
    assert async_to_sync(async_client.get)("/atoken/").json()["error"] is None
    async_client.cookies.clear()
    anonymous = async_to_sync(async_client.get)("/atoken/").json()
    assert anonymous["token_sha256"] is None and anonymous["error"] == "not_authenticated"


def test_the_lock_follows_the_refresh_token_not_the_session_key() -> None:
    assert _lock_key(sample_token(1)) == _lock_key(sample_token(1, access_token="other", resource="urn:x"))
    assert _lock_key(sample_token(1)) != _lock_key(sample_token(2))
    assert sample_token(1).refresh_token not in _lock_key(sample_token(1))


@responses.activate
def test_discovery_down_during_refresh_is_transient_with_retry_after(expired: Session, settings: Any) -> None:
    del settings.OIDC_OP_TOKEN_ENDPOINT
    responses.get("http://127.0.0.1:9/.well-known/openid-configuration", status=503)
    result = get_user_access_token(expired.request())
    assert result.error is TokenError.TOKEN_SERVICE_UNAVAILABLE and result.retry_after == 5


@responses.activate
def test_a_resource_token_is_obtained_with_the_sessions_refresh_token(user: Any) -> None:
    session = Session(user, sample_token(1))
    responses.post(
        TOKEN_URL, json={"access_token": "for-orders-XXXX", "expires_in": 300, "refresh_token": "rt-rotated-2"}
    )
    orders = UserTokenRequestParameters(resource="urn:orders")
    result = get_user_access_token(session.request(), orders)
    assert result.access_token == "for-orders-XXXX" and result.token.resource == "urn:orders"
    form = parse_qs(responses.calls[0].request.body)
    assert form["refresh_token"] == [sample_token(1).refresh_token] and form["resource"] == ["urn:orders"]
    # The rotated refresh token went to the session's token, and only there.
    assert session.stored().access_token == sample_token(1).access_token
    assert session.stored().refresh_token == "rt-rotated-2"
    stored = get_token_store().get_token(session.request(), orders)
    assert stored.access_token == "for-orders-XXXX" and stored.refresh_token is None
    # Kept until it nears expiry.
    assert get_user_access_token(session.request(), orders).access_token == "for-orders-XXXX"
    assert len(responses.calls) == 1


@responses.activate
def test_a_narrower_scope_never_replaces_the_sessions_token(user: Any) -> None:
    session = Session(user, sample_token(1))
    responses.post(TOKEN_URL, json={"access_token": "narrow-XXXX", "expires_in": 300})
    narrow = UserTokenRequestParameters(scope="orders.read")
    assert get_user_access_token(session.request(), narrow).access_token == "narrow-XXXX"
    assert parse_qs(responses.calls[0].request.body)["scope"] == ["orders.read"]
    assert session.stored() == sample_token(1)
    assert get_user_access_token(session.request()).token == sample_token(1)
    assert get_token_store().get_token(session.request(), narrow).scope == "orders.read"


def test_a_resource_token_without_a_session_token(user: Any) -> None:
    contract = UserTokenStoreContract()
    request = contract.new_request(user=user)
    result = get_user_access_token(request, UserTokenRequestParameters(resource="urn:orders"))
    assert result.error is TokenError.NO_TOKEN


@responses.activate
def test_a_waiter_whose_refresh_token_rotated_meanwhile_follows_the_new_lock(user: Any) -> None:
    """W waits on lock(RT1); another worker rotates RT1 to RT2 and is still using RT2 (it holds
    lock(RT2)). W must not refresh with RT2 under lock(RT1): it moves to lock(RT2) and waits."""
    session = Session(user, sample_token(1))
    api = UserTokenRequestParameters(resource="urn:api")
    request = session.request()
    lock1 = CacheLock(caches["default"], _lock_key(sample_token(1)), 30)
    assert lock1.acquire()
    rotated = sample_token(1, refresh_token="rt-two-ZZZZZZZZ")
    lock2 = CacheLock(caches["default"], _lock_key(rotated), 30)

    def other_worker() -> None:
        other = session.request()
        get_token_store().get_token(other)
        get_token_store().store_token(other, rotated)  # rotated RT1 -> RT2 ...
        assert lock2.acquire()  # ... and is refreshing with RT2 right now
        lock1.release()
        time.sleep(0.3)
        resource_token = sample_token(5, refresh_token=None, resource="urn:api")
        third = session.request()
        get_token_store().get_token(third, api)
        get_token_store().store_token(third, resource_token, api)
        lock2.release()

    worker = threading.Thread(target=other_worker)
    worker.start()
    result = get_user_access_token(request, api)
    worker.join()
    assert result.token == sample_token(5, refresh_token=None, resource="urn:api")
    assert len(responses.calls) == 0
