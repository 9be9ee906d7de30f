"""/bff/user: anti-forgery, anonymous answers, claim shapes, session expiry and ?slide=false."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.db.models import F
from django.test import Client

from django_bff import crypto
from django_bff.clock import Clock
from django_bff.sessions import SESSION_EXPIRES_KEY
from tests.support.urlconf import use_current_routes

pytestmark = pytest.mark.django_db

XCSRF = {"HTTP_X_CSRF": "1"}
CLAIMS = {
    "iss": "http://127.0.0.1:9",
    "aud": "bff",
    "exp": 4102444800,
    "iat": 1700000000,
    "nonce": "n-1",
    "at_hash": "h",
    "sid": "s-1",
    "sub": "alice-sub",
    "name": "Alice",
    "email": "alice@example.test",
    "email_verified": True,
    "roles": ["admin", "reader"],
    "address": {"country": "NZ"},
}


def logged_in(client: Client, user: Any, claims: dict[str, Any] | None = CLAIMS, expires_in: int = 100) -> Any:
    client.force_login(user)
    session = client.session
    session["_bff_sid"] = "s-1"
    session["_bff_sub"] = "alice-sub"
    session[SESSION_EXPIRES_KEY] = int(time.time()) + expires_in
    if claims is not None:
        session["_bff_id_token"] = crypto.encrypt(jwt.encode(claims, "k" * 32, algorithm="HS256").encode())
    session.save()
    return session


def expire_date(client: Client) -> Any:
    return Session.objects.get(session_key=client.session.session_key).expire_date


def age(client: Client, seconds: int = 10) -> Any:
    """Make the stored session look saved ``seconds`` earlier (instead of sleeping); its new expiry date."""
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=F("expire_date") - timedelta(seconds=seconds)
    )
    return expire_date(client)


def test_the_antiforgery_header_is_required(client: Client, user: Any) -> None:
    logged_in(client, user)
    response = client.get("/bff/user")
    assert response.status_code == 401 and response.json() == {"error": "antiforgery_header_required"}
    assert client.get("/bff/user", HTTP_X_CSRF="0").status_code == 401


def test_anonymous_gets_401(client: Client) -> None:
    response = client.get("/bff/user", **XCSRF)
    assert response.status_code == 401 and response.json() == {"error": "not_authenticated"}
    assert response["Cache-Control"] == "no-store"


def test_anonymous_gets_null_when_configured(client: Client, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "ANONYMOUS_SESSION_RESPONSE": 200}
    response = client.get("/bff/user", **XCSRF)
    assert response.status_code == 200 and response.content == b"null"
    assert response["Content-Type"] == "application/json" and response["Cache-Control"] == "no-store"


def test_only_get(client: Client, user: Any) -> None:
    logged_in(client, user)
    assert client.post("/bff/user", **XCSRF).status_code == 405


def test_the_claims_shape(client: Client, user: Any) -> None:
    logged_in(client, user)
    response = client.get("/bff/user", **XCSRF)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    items = response.json()
    assert all(set(item) == {"type", "value"} for item in items)
    assert items[:-2] == [
        {"type": "sub", "value": "alice-sub"},
        {"type": "name", "value": "Alice"},
        {"type": "email", "value": "alice@example.test"},
        {"type": "email_verified", "value": True},
        {"type": "roles", "value": "admin"},
        {"type": "roles", "value": "reader"},
        {"type": "address", "value": {"country": "NZ"}},
    ]
    assert items[-2] == {"type": "bff:logout_url", "value": "/bff/logout?sid=s-1"}
    assert items[-1]["type"] == "bff:session_expires_in" and 95 <= items[-1]["value"] <= 100


def test_protocol_claims_are_left_out_by_default(client: Client, user: Any) -> None:
    logged_in(client, user)
    types = {item["type"] for item in client.get("/bff/user", **XCSRF).json()}
    assert not types & {"iss", "aud", "exp", "iat", "nonce", "at_hash", "sid"}


def test_claim_filters(client: Client, user: Any, settings: Any) -> None:
    logged_in(client, user)
    settings.BFF = {**settings.BFF, "USER_CLAIMS": ["sub", "roles", "iss"], "USER_CLAIMS_EXCLUDED": ["roles"]}
    items = client.get("/bff/user", **XCSRF).json()
    assert [i["type"] for i in items] == ["iss", "sub", "bff:logout_url", "bff:session_expires_in"]
    settings.BFF = {**settings.BFF, "USER_CLAIMS": None, "USER_CLAIMS_EXCLUDED": []}
    assert "nonce" in {i["type"] for i in client.get("/bff/user", **XCSRF).json()}


def test_the_sid_is_escaped_in_the_logout_url(client: Client, user: Any) -> None:
    session = logged_in(client, user)
    session["_bff_sid"] = "a&b=c d"
    session.save()
    items = client.get("/bff/user", **XCSRF).json()
    assert items[-2]["value"] == "/bff/logout?sid=a%26b%3Dc%20d"


def test_without_an_identity_token_the_subject_is_shown(client: Client, user: Any) -> None:
    logged_in(client, user, claims=None)
    items = client.get("/bff/user", **XCSRF).json()
    assert items[0] == {"type": "sub", "value": "alice-sub"} and len(items) == 3


def test_an_unreadable_identity_token_shows_the_subject(client: Client, user: Any) -> None:
    session = logged_in(client, user)
    session["_bff_id_token"] = crypto.encrypt(b"not-a-jwt")
    session.save()
    assert client.get("/bff/user", **XCSRF).json()[0] == {"type": "sub", "value": "alice-sub"}


def test_the_base_path_moves_the_logout_url(client: Client, user: Any, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "BASE_PATH": "auth/"}
    use_current_routes(settings)
    logged_in(client, user)
    items = client.get("/auth/user", **XCSRF).json()
    assert items[-2]["value"] == "/auth/logout?sid=s-1"


def test_the_async_stack_answers_the_same(async_client: Any, client: Client, user: Any) -> None:
    from asgiref.sync import async_to_sync

    session = logged_in(client, user)
    async_client.cookies[django_settings.SESSION_COOKIE_NAME] = session.session_key
    response = async_to_sync(async_client.get)("/bff/user", headers={"X-CSRF": "1"})
    assert response.status_code == 200 and response.json()[0] == {"type": "sub", "value": "alice-sub"}


# --- sliding -----------------------------------------------------------------------------------


@pytest.mark.database
def test_without_save_every_request_polling_does_not_slide(client: Client, user: Any) -> None:
    logged_in(client, user, expires_in=100)
    before = expire_date(client)
    response = client.get("/bff/user", **XCSRF)
    assert response.cookies.get(django_settings.SESSION_COOKIE_NAME) is None
    assert 95 <= response.json()[-1]["value"] <= 100
    assert expire_date(client) == before


@pytest.mark.database
def test_save_every_request_slides(client: Client, user: Any, settings: Any) -> None:
    settings.SESSION_SAVE_EVERY_REQUEST = True
    logged_in(client, user, expires_in=100)
    before = age(client)
    response = client.get("/bff/user", **XCSRF)
    assert response.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert response.json()[-1]["value"] == settings.SESSION_COOKIE_AGE
    assert expire_date(client) - before >= timedelta(seconds=9)
    # The middleware wrote down the new expiry for later slide=false answers.
    assert client.session[SESSION_EXPIRES_KEY] == pytest.approx(time.time() + settings.SESSION_COOKIE_AGE, abs=3)


@pytest.mark.database
@pytest.mark.parametrize("value", ["false", "False", "0", "no"])
def test_slide_false_does_not_extend(client: Client, user: Any, settings: Any, value: str) -> None:
    settings.SESSION_SAVE_EVERY_REQUEST = True
    logged_in(client, user, expires_in=100)
    before = age(client)
    response = client.get("/bff/user", {"slide": value}, **XCSRF)
    assert response.status_code == 200
    assert response.cookies.get(django_settings.SESSION_COOKIE_NAME) is None
    assert response["Vary"] == "Cookie"
    assert 95 <= response.json()[-1]["value"] <= 100
    assert expire_date(client) == before


def test_slide_false_still_saves_a_modified_session(client: Client, user: Any, settings: Any) -> None:
    # A session changed during the request must be saved (and then slides): losing changes is worse.
    from django_bff.middleware import dont_slide

    logged_in(client, user)
    settings.SESSION_SAVE_EVERY_REQUEST = True
    from django.http import HttpRequest
    from django.test import RequestFactory

    from django_bff.middleware import SessionMiddleware

    def view(request: HttpRequest) -> Any:
        from django.http import HttpResponse

        dont_slide(request)
        request.session["changed"] = True
        return HttpResponse()

    request = RequestFactory().get("/")
    request.COOKIES[django_settings.SESSION_COOKIE_NAME] = client.session.session_key
    response = SessionMiddleware(view)(request)
    assert response.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert client.session["changed"] is True


@pytest.mark.database
def test_with_djangos_middleware_slide_false_cannot_help(client: Client, user: Any, settings: Any) -> None:
    # What django_bff.W014 warns about.
    settings.SESSION_SAVE_EVERY_REQUEST = True
    settings.MIDDLEWARE = [
        m.replace("django_bff.middleware.SessionMiddleware", "django.contrib.sessions.middleware.SessionMiddleware")
        for m in settings.MIDDLEWARE
    ]
    logged_in(client, user)
    before = age(client)
    response = client.get("/bff/user", {"slide": "false"}, **XCSRF)
    assert response.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert expire_date(client) - before >= timedelta(seconds=9)


@pytest.mark.database
def test_anonymous_slide_false_leaves_no_session(client: Client, settings: Any) -> None:
    settings.SESSION_SAVE_EVERY_REQUEST = True
    response = client.get("/bff/user", {"slide": "false"}, **XCSRF)
    assert response.status_code == 401 and not Session.objects.exists()


@pytest.mark.integration
@pytest.mark.database
def test_a_real_login_shows_the_identity_tokens_claims(oidc: Any, bff_client: Any) -> None:
    from tests.support.login import browser_login

    browser_login(bff_client)
    items = bff_client.get("/bff/user", HTTP_X_CSRF="1").json()
    types = [i["type"] for i in items]
    assert types[0] == "sub" and types[-2:] == ["bff:logout_url", "bff:session_expires_in"]
    sid = bff_client.session["_bff_sid"]
    assert items[-2]["value"] == f"/bff/logout?sid={sid}"
    # The logout URL it gives is the one /bff/logout accepts.
    response = bff_client.get(items[-2]["value"])
    assert response.status_code == 302 and "_auth_user_id" not in bff_client.session
    assert bff_client.get("/bff/user", HTTP_X_CSRF="1").status_code == 401


@pytest.mark.integration
@pytest.mark.database
def test_polling_neither_refreshes_nor_slides_and_the_next_api_call_refreshes(
    oidc: Any, bff_client: Any, settings: Any, clock: Clock
) -> None:
    """Session sliding and token refresh are separate clocks (docs/sessions.rst)."""
    from tests.support.login import browser_login, expire

    settings.SESSION_SAVE_EVERY_REQUEST = True
    browser_login(bff_client)
    expire(bff_client)  # the access token is past its expiry; the refresh token is alive
    before = age(bff_client)
    left = []
    for _ in range(3):
        clock.advance(2)
        response = bff_client.get("/bff/user", {"slide": "false"}, HTTP_X_CSRF="1")
        assert response.status_code == 200
        left.append(response.json()[-1]["value"])
    assert left == sorted(left, reverse=True) and left[0] > left[-1]  # counting down
    assert expire_date(bff_client) == before
    assert oidc.stats()["token"].get("refresh_token", 0) == 0  # /bff/user never refreshes
    assert bff_client.get("/token/").json()["error"] is None  # a token is needed: one refresh
    assert oidc.stats()["token"]["refresh_token"] == 1
    assert expire_date(bff_client) - before >= timedelta(seconds=9)  # and that request slid the session
