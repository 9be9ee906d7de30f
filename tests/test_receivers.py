from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import logout

from django_bff.stores import RecordTokenStore, get_token_store
from django_bff.testing import UserTokenStoreContract, sample_token
from tests.support.urlconf import use_current_routes

pytestmark = pytest.mark.django_db(transaction=True)


def test_django_logout_clears_the_tokens(user: Any) -> None:
    contract = UserTokenStoreContract()
    request = contract.new_request(user=user)
    get_token_store().store_token(request, sample_token(1))
    key = contract.finish_request(request)
    again = contract.new_request(key, user)
    ref = again.session["_bff_token_ref"]
    logout(again)
    store = get_token_store()
    assert isinstance(store, RecordTokenStore)
    assert store.read_record(ref) is None


def test_logout_survives_a_broken_store(user: Any, settings: Any, leak_guard: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    settings.BFF = {**settings.BFF, "USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore"}}
    request = UserTokenStoreContract().new_request(user=user)
    request.session["_bff_token_ref"] = "a" * 32
    logout(request)  # Redis is down: logged, not raised
    assert not request.user.is_authenticated
    assert any(r.levelname == "ERROR" and r.name == "django_bff.receivers" for r in leak_guard.records)


def test_logout_without_a_session_touches_no_store(user: Any, settings: Any) -> None:
    from django.contrib.auth.signals import user_logged_out
    from django.http import HttpRequest

    from django_bff.receivers import _on_logout
    from tests.support.stores import RecordingTokenStore

    settings.BFF = {**settings.BFF, "USER_TOKEN_STORE": {"BACKEND": "tests.support.stores.RecordingTokenStore"}}
    RecordingTokenStore.calls.clear()
    for request in (None, HttpRequest()):  # no request at all; a request that never had a session
        answered = user_logged_out.send(sender=type(user), request=request, user=user)
        assert (_on_logout, None) in answered  # the receiver ran, and raised nothing
    assert RecordingTokenStore.calls == []
    # The same signal for a request with a session clears that session's tokens.
    with_session = UserTokenStoreContract().new_request(user=user)
    user_logged_out.send(sender=type(user), request=with_session, user=user)
    assert RecordingTokenStore.calls == [("clear_token", with_session.session.session_key)]


def test_logout_survives_a_broken_session_index(user: Any, settings: Any, leak_guard: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    settings.BFF = {**settings.BFF, "SESSION_INDEX": {"BACKEND": "django_bff.sessions.CacheSessionIndex"}}
    request = UserTokenStoreContract().new_request(user=user)
    request.session["_bff_sid"] = "s-1"
    logout(request)  # the index's Redis is down: logged, not raised
    assert not request.user.is_authenticated
    assert any("session index" in r.getMessage() for r in leak_guard.records if r.levelname == "ERROR")


# --- users who can no longer log in: their sessions end (what replaces the per-call user check) ------------


@pytest.fixture(params=[pytest.param("database", marks=pytest.mark.database), "cache"])
def indexed(request: Any, settings: Any) -> str:
    if request.param == "cache":
        settings.BFF = {**settings.BFF, "SESSION_INDEX": {"BACKEND": "django_bff.sessions.CacheSessionIndex"}}
    return str(request.param)


def _logged_in(user: Any, upstream: Any, settings: Any) -> Any:
    from datetime import datetime, timedelta, timezone

    from django.test import Client

    from tests.support.sessions import logged_in_session

    settings.BFF = {
        **settings.BFF,
        "REMOTE_APIS": [{"PREFIX": "api/", "TARGET": upstream.url + "/v1/", "TOKEN_TYPE": "user"}],
        "ALLOW_INSECURE_UPSTREAMS": True,
    }
    use_current_routes(settings)
    now = datetime.now(timezone.utc)
    client = Client()
    logged_in_session(client, user, sample_token(1, issued_at=now, expires_at=now + timedelta(hours=1)))
    response = client.get("/api/x", HTTP_X_CSRF="1")
    assert response.status_code == 200
    b"".join(response.streaming_content)
    return client


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda user: (setattr(user, "is_active", False), user.save()), id="deactivated"),
        pytest.param(lambda user: (user.set_password("new-pass-123"), user.save()), id="password"),
        pytest.param(
            lambda user: (user.set_password("new-pass-123"), user.save(update_fields=["password"])), id="password-only"
        ),
        pytest.param(lambda user: user.delete(), id="deleted"),
    ],
)
def test_a_user_who_can_no_longer_log_in_loses_every_bff_session(
    user: Any, settings: Any, indexed: str, change: Any
) -> None:
    from tests.support.upstream import Upstream

    with Upstream() as upstream:
        client = _logged_in(user, upstream, settings)
        change(user)
        response = client.get("/api/x", HTTP_X_CSRF="1")
    assert response.status_code == 401 and response.json() == {"error": "not_authenticated"}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda user: user.save(update_fields=["last_login"]), id="last-login"),
        pytest.param(lambda user: (setattr(user, "email", "new@example.test"), user.save()), id="email"),
        pytest.param(lambda user: (setattr(user, "is_active", True), user.save()), id="still-active"),
    ],
)
def test_other_changes_keep_the_sessions(user: Any, settings: Any, change: Any) -> None:
    from tests.support.upstream import Upstream

    with Upstream() as upstream:
        client = _logged_in(user, upstream, settings)
        change(user)
        response = client.get("/api/x", HTTP_X_CSRF="1")
        assert response.status_code == 200
        b"".join(response.streaming_content)


def test_an_index_that_cannot_find_users_says_so(user: Any, settings: Any, caplog: Any) -> None:
    from django_bff.sessions import end_user_sessions

    settings.BFF = {**settings.BFF, "SESSION_INDEX": {"BACKEND": "tests.support.sessions.IndexWithoutUsers"}}
    assert end_user_sessions(user) == 0
    assert any("cannot find sessions by user" in r.getMessage() for r in caplog.records)


def test_sessions_from_before_the_index_knew_users_load_the_user(user: Any, settings: Any) -> None:
    from django_bff.sessions import SESSION_USER_INDEXED_KEY, session_login

    request = UserTokenStoreContract().new_request(user=user)
    del request.user  # as AuthenticationMiddleware leaves it before first use: unknown
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    request.session.update(
        {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django_bff.auth.BFFAuthenticationBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
            "_bff_sid": "s",
        }
    )
    assert session_login(request) is None  # no index entry by user: ask request.user
    request.session[SESSION_USER_INDEXED_KEY] = str(user.pk)
    assert session_login(request) is True
    request.session[SESSION_USER_INDEXED_KEY] = "another user"
    assert session_login(request) is None
    request.session[SESSION_USER_INDEXED_KEY] = str(user.pk)
    request.session[BACKEND_SESSION_KEY] = "not.a.configured.Backend"
    assert session_login(request) is None
    request.session.pop(SESSION_KEY)
    assert session_login(request) is False
