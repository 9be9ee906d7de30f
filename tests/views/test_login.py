"""How a login ends when it fails: one WARNING with the reason, and the browser back at its return URL with an error.

Every way mozilla-django-oidc's callback can fail, through
:class:`~django_bff.views.OIDCCallbackView`: no ``state``, a ``state`` of no
login of this session (what a session cookie overwritten by another
application's looks like), an error answer of the provider, a refused code
exchange, a refused identity token, no user, a storage outage. The provider is
``responses`` here; ``prompt=none`` against the real one is at the end.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses
from django.conf import settings
from django.db import DatabaseError
from django.test import Client

from django_bff.views.login import LOGIN_ERRORS
from tests.support.keys import KEY, OTHER_KEY, jwk

pytestmark = pytest.mark.django_db(transaction=True)

ISSUER = "http://127.0.0.1:9"
TOKEN_URL = ISSUER + "/token"
JWKS_URL = ISSUER + "/jwks"
ACCESS = "at-LOGINFAIL0001"
REFRESH = "rt-LOGINFAIL0001"
#: Where the browser app asks to go back to.
RETURN = "/orders/42?tab=items#top"


def start(client: Client, return_url: str = RETURN, **extra: str) -> str:
    """``/bff/login``; the login's ``state``."""
    response = client.get("/bff/login", {"returnUrl": return_url, **extra})
    assert response.status_code == 302
    return parse_qs(urlsplit(response["Location"]).query)["state"][0]


def id_token(client: Client, state: str, key: Any = KEY, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "bff", "sub": "alice", "email": "alice@example.test", "iat": now, "exp": now + 300}
    body["nonce"] = client.session["oidc_states"][state]["nonce"]
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


def answer(token: str) -> dict[str, Any]:
    return {
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "id_token": token,
        "expires_in": 60,
        "token_type": "Bearer",
    }


@pytest.fixture
def provider(leak_guard: Any) -> Any:
    leak_guard.add(ACCESS, REFRESH)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, json={"keys": [jwk(KEY, "k1")]})
        yield mock


def warnings(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(("django_bff", "django."))]


def the_one_warning(caplog: Any, *secrets: str) -> str:
    """The one WARNING the failed callback logged; none of ``secrets`` in any log line."""
    found = warnings(caplog)
    assert len(found) == 1, [r.getMessage() for r in found]
    for record in caplog.records:
        for secret in secrets:
            assert secret not in record.getMessage()
    return found[0].getMessage()


def error_of(response: Any) -> tuple[str, str | None]:
    """Where the browser goes (without the query), and the ``error`` it carries."""
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    return location.path, parse_qs(location.query).get("error", [None])[0]


# --- no login of this session ---------------------------------------------------------------------


def test_a_lost_session_cookie_is_logged_and_reported(client: Client, caplog: Any) -> None:
    """The callback arrives with another session than the login's (a provider on this host took the cookie)."""
    state = start(client)
    client.cookies.clear()  # what a provider's cookie of the same name does to ours
    response = client.get("/oidc/callback/", {"code": "c-secret", "state": state})
    assert error_of(response) == ("/login-failed/", "login_failed")
    message = the_one_warning(caplog, state, "c-secret")
    assert "started no login" in message and "django_bff.W019" in message


def test_a_state_of_no_login_of_this_session(client: Client, caplog: Any) -> None:
    start(client)
    response = client.get("/oidc/callback/", {"code": "c-secret", "state": "forged-state"})
    assert error_of(response) == ("/login-failed/", "login_failed")
    assert "matches no login" in the_one_warning(caplog, "forged-state", "c-secret")


def test_no_state_at_all(client: Client, caplog: Any) -> None:
    start(client)
    response = client.get("/oidc/callback/", {"code": "c-secret"})
    assert error_of(response) == ("/login-failed/", "login_failed")
    assert "no state" in the_one_warning(caplog, "c-secret")
    assert any(r.name == "django.security.django_bff" for r in warnings(caplog))


def test_neither_code_nor_error(client: Client, caplog: Any) -> None:
    state = start(client)
    response = client.get("/oidc/callback/", {"state": state})
    assert error_of(response) == ("/orders/42", "login_failed")
    assert "neither a code nor an error" in the_one_warning(caplog, state)


# --- the provider's error answers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("login_required", "login_required"),
        ("consent_required", "consent_required"),
        ("interaction_required", "interaction_required"),
        ("account_selection_required", "account_selection_required"),
        ("access_denied", "access_denied"),
        ("temporarily_unavailable", "temporarily_unavailable"),
        ("invalid_scope", "login_failed"),
        ("login_failed", "login_failed"),
    ],
)
def test_error_answers_go_back_to_the_return_url(client: Client, caplog: Any, error: str, expected: str) -> None:
    state = start(client)
    response = client.get("/oidc/callback/", {"error": error, "error_description": "said x", "state": state})
    assert response["Location"] == f"/orders/42?tab=items&error={expected}#top"
    assert expected in LOGIN_ERRORS
    assert f"answered {error}" in the_one_warning(caplog, state, "said x")
    assert state not in client.session.get("oidc_states", {})


def test_an_error_code_that_is_no_code_is_not_logged(client: Client, caplog: Any) -> None:
    state = start(client)
    response = client.get("/oidc/callback/", {"error": "<script>x</script>", "state": state})
    assert error_of(response) == ("/orders/42", "login_failed")
    assert "(not an error code)" in the_one_warning(caplog, "<script>")


def test_the_error_replaces_one_the_return_url_had(client: Client) -> None:
    state = start(client, "/?error=old&x=1")
    response = client.get("/oidc/callback/", {"error": "login_required", "state": state})
    assert response["Location"] == "/?x=1&error=login_required"


def test_an_allowed_origin_gets_the_error_too(client: Client, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "ALLOWED_RETURN_ORIGINS": ["https://app.example.com"]}
    state = start(client, "https://app.example.com/spa")
    response = client.get("/oidc/callback/", {"error": "login_required", "state": state})
    assert response["Location"] == "https://app.example.com/spa?error=login_required"
    # An origin no longer allowed when the provider answers: the failure URL, not there.
    state = start(client, "https://app.example.com/spa")
    settings.BFF = {**settings.BFF, "ALLOWED_RETURN_ORIGINS": []}
    response = client.get("/oidc/callback/", {"error": "login_required", "state": state})
    assert response["Location"] == "/login-failed/?error=login_required"


def test_each_login_goes_back_to_its_own_return_url(client: Client) -> None:
    first = start(client, "/first")
    start(client, "/second")
    response = client.get("/oidc/callback/", {"error": "login_required", "state": first})
    assert response["Location"] == "/first?error=login_required"


# --- what the BFF refuses -----------------------------------------------------------------------------


def test_a_refused_code_exchange(client: Client, provider: Any, caplog: Any) -> None:
    provider.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    state = start(client)
    response = client.get("/oidc/callback/", {"code": "c-secret", "state": state})
    assert error_of(response) == ("/orders/42", "login_failed")
    message = the_one_warning(caplog, state, "c-secret")
    assert "code exchange failed" in message and "invalid_grant" in message


def test_an_unavailable_token_service(client: Client, provider: Any, caplog: Any) -> None:
    provider.post(TOKEN_URL, status=503, body="down")
    state = start(client)
    response = client.get("/oidc/callback/", {"code": "c-secret", "state": state})
    assert error_of(response) == ("/orders/42", "temporarily_unavailable")
    assert "code exchange failed" in the_one_warning(caplog, state, "c-secret")


@pytest.mark.parametrize("claims", [{"key": OTHER_KEY}, {"aud": "someone-else"}, {"nonce": "other"}])
def test_a_refused_identity_token(client: Client, provider: Any, caplog: Any, claims: dict[str, Any]) -> None:
    state = start(client)
    token = id_token(client, state, **claims)
    provider.post(TOKEN_URL, json=answer(token))
    response = client.get("/oidc/callback/", {"code": "c-secret", "state": state})
    assert error_of(response) == ("/orders/42", "login_failed")
    the_one_warning(caplog, state, "c-secret", token)
    assert warnings(caplog)[0].name == "django.security.django_bff"
    assert "_auth_user_id" not in client.session


def test_no_user(client: Client, provider: Any, caplog: Any, settings: Any) -> None:
    settings.OIDC_CREATE_USER = False
    state = start(client)
    provider.post(TOKEN_URL, json=answer(id_token(client, state)))
    response = client.get("/oidc/callback/", {"code": "c-secret", "state": state})
    assert error_of(response) == ("/orders/42", "login_failed")
    assert "returned a user" in the_one_warning(caplog, state, "c-secret")


def test_an_inactive_user(client: Client, provider: Any, caplog: Any, django_user_model: Any) -> None:
    django_user_model.objects.create_user("alice", email="alice@example.test", is_active=False)
    state = start(client)
    provider.post(TOKEN_URL, json=answer(id_token(client, state)))
    response = client.get("/oidc/callback/", {"code": "c-secret", "state": state})
    assert error_of(response) == ("/orders/42", "login_failed")
    assert "inactive" in the_one_warning(caplog, state, "c-secret")


def test_a_storage_outage(client: Client, provider: Any, caplog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from django_bff.stores import get_token_store

    def down(*args: Any, **kwargs: Any) -> None:
        raise DatabaseError("the database is down")

    monkeypatch.setattr(type(get_token_store()), "store_token", down)
    state = start(client)
    provider.post(TOKEN_URL, json=answer(id_token(client, state)))
    response = client.get("/oidc/callback/", {"code": "c-secret", "state": state})
    assert error_of(response) == ("/orders/42", "temporarily_unavailable")
    assert "storage is unavailable (DatabaseError)" in the_one_warning(caplog, state, "c-secret")


def test_a_session_storage_that_cannot_be_read(client: Client, caplog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No session, so no return URL known: the failure URL, and nothing written back."""
    from django.contrib.sessions.backends.base import SessionBase

    state = start(client)

    def down(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise DatabaseError("the session storage is down")

    monkeypatch.setattr(SessionBase, "_session", property(down))  # whatever the engine
    response = client.get("/oidc/callback/", {"code": "c-secret", "state": state})
    assert error_of(response) == ("/login-failed/", "temporarily_unavailable")
    assert "storage is unavailable (DatabaseError)" in the_one_warning(caplog, state, "c-secret")
    assert settings.SESSION_COOKIE_NAME not in response.cookies  # nothing written back


def test_a_login_that_works_goes_to_its_return_url(client: Client, provider: Any, caplog: Any) -> None:
    state = start(client)
    provider.post(TOKEN_URL, json=answer(id_token(client, state)))
    response = client.get("/oidc/callback/", {"code": "c-secret", "state": state})
    assert response.status_code == 302 and response["Location"] == RETURN
    assert warnings(caplog) == [] and client.session["_auth_user_id"]


# --- prompt=none against the real provider --------------------------------------------------------


@pytest.mark.integration
def test_silent_login_without_a_provider_session_returns_login_required(
    oidc: Any, bff_client: Any, caplog: Any
) -> None:
    from tests.support.idp import complete_login
    from tests.support.login import CALLBACK

    start_ = bff_client.get("/bff/login", {"returnUrl": "/orders", "prompt": "none"})
    state = parse_qs(urlsplit(start_["Location"]).query)["state"][0]
    back = complete_login(start_["Location"], CALLBACK)  # a browser with no session at the provider
    assert parse_qs(urlsplit(back).query)["error"] == ["login_required"]
    response = bff_client.get(urlsplit(back).path, parse_qs(urlsplit(back).query))
    assert response.status_code == 302 and response["Location"] == "/orders?error=login_required"
    assert "answered login_required" in the_one_warning(caplog, state)
