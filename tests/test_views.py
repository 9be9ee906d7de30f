"""/bff/login: returnUrl validation (an open-redirect battery) and prompt passthrough."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

#: Payloads that must never lead off the site (each is sent as the returnUrl value, i.e. decoded once).
ATTACKS = [
    "//evil.example",
    "//evil.example/",
    "///evil.example",
    "////evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "/%5cevil.example",
    "/%5Cevil.example",
    "%2f%2fevil.example",
    "https://evil.example",
    "http://evil.example",
    "HTTPS://evil.example",
    "https:evil.example",
    "https:/evil.example",
    "https:///evil.example",
    "//evil.example@testserver",
    "https://testserver@evil.example",
    "https://testserver.evil.example",
    "https://evil.example/testserver",
    "//testserver@evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "javascript://%0aalert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://evil.example",
    " /path",
    "/path ",
    "\t/path",
    "/pa\tth",
    "/pa\nth",
    "/pa\rth",
    "\n//evil.example",
    "\r\n//evil.example",
    "/\x00evil",
    "\x00//evil.example",
    "/\x7f",
    "//\tevil.example",
    "/\t/evil.example",
    "/ /evil.example",
    "\u3002evil.example",
    "\uff0f\uff0fevil.example",
    "/\uff0fevil.example",
    "\u2215\u2215evil.example",
    "/\u2044evil.example",
    "//evil\u3002example",
    "//e\u0301vil.example",
    "/\u200b/evil.example",
    "\u202e//evil.example",
    "/caf\u00e9",
    "//%65vil.example",
    "//evil%2eexample",
    "//evil.example%2f",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "//evil.example:443",
    "//127.0.0.1",
    "//[::1]",
    "//0x7f.1",
    "//2130706433",
    "//evil.example#@testserver",
    "//evil.example?@testserver",
    "https://evil.example#https://testserver/",
    "https://evil.example?x=https://testserver/",
    "/%0d%0aLocation:%20//evil.example",
    "/%0aSet-Cookie:x=1",
    "//evil.example/%2e%2e",
    "https:\\\\evil.example",
    "http:\\/evil.example",
    "/\\\\evil.example",
    "\\evil.example",
    "evil.example",
    "@evil.example",
    ":evil.example",
    "/.//evil.example",
    "http://",
    "https://",
    "//",
    "///",
    "\\\\",
    "https://user:pass@evil.example",
    "https://testserver:80@evil.example",
    "ws://evil.example",
    "wss://evil.example",
    "chrome://settings",
    "about:blank",
    "blob:https://evil.example/x",
    "filesystem:https://evil.example/x",
    "mailto:a@evil.example",
    "tel:123",
    "//evil.example\\@testserver",
    "//\\evil.example",
    "/\\\\/evil.example",
    "///\\evil.example",
    "https://evil.example\\@testserver",
    "https://evil.example%2f@testserver",
    "https://evil.example%23@testserver",
    "/%09/evil.example",
    "/%00/evil.example",
    "//evil%00.example",
    "https://evil.example:8443/x",
    "https://testserver.example",
]

#: Local paths that are fine.
LOCAL = ["/", "/orders", "/orders/42?tab=items#top", "/a/b/c/", "/search?q=%2F%2Fevil.example", "/%C3%A9t%C3%A9"]


def login(client: Client, return_url: str | None, **extra: Any) -> Any:
    data = {} if return_url is None else {"returnUrl": return_url}
    return client.get("/bff/login", data, **extra)


def test_the_battery_is_big_enough() -> None:
    assert len(set(ATTACKS)) >= 100


@pytest.mark.parametrize("payload", ATTACKS)
def test_no_return_url_leads_off_the_site(client: Client, payload: str) -> None:
    response = login(client, payload)
    if response.status_code == 302:
        # Accepted: then it was a local path, and that is where the callback will send the user.
        stored = client.session["oidc_login_next"]
        assert stored.startswith("/") and not stored.startswith("//") and "\\" not in stored
        assert urlsplit(stored).netloc == ""
    else:
        assert response.status_code == 400 and response.json() == {"error": "invalid_return_url"}


@pytest.mark.parametrize("path", LOCAL)
def test_local_paths_start_the_login(client: Client, path: str) -> None:
    response = login(client, path)
    assert response.status_code == 302
    authorize = urlsplit(response["Location"])
    query = parse_qs(authorize.query)
    assert query["client_id"] == ["bff"] and query["code_challenge_method"] == ["S256"] and "nonce" in query
    assert client.session["oidc_login_next"] == path


def test_no_return_url_means_home(client: Client) -> None:
    assert login(client, None).status_code == 302
    assert client.session["oidc_login_next"] == "/"


def test_allowed_origins(client: Client, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "ALLOWED_RETURN_ORIGINS": ["https://app.example.com"]}
    assert login(client, "https://app.example.com/after").status_code == 302
    assert client.session["oidc_login_next"] == "https://app.example.com/after"
    for other in ("https://app.example.com.evil.example/", "http://app.example.com/", "https://u@app.example.com/"):
        assert login(client, other).status_code == 400


@pytest.mark.parametrize("prompt", ["none", "login", "consent", "select_account"])
def test_prompt_passes_through(client: Client, prompt: str) -> None:
    response = client.get("/bff/login", {"returnUrl": "/x", "prompt": prompt})
    assert parse_qs(urlsplit(response["Location"]).query)["prompt"] == [prompt]


def test_unknown_prompt_is_refused(client: Client) -> None:
    response = client.get("/bff/login", {"prompt": "none consent"})
    assert response.status_code == 400 and response.json() == {"error": "invalid_prompt"}


@pytest.mark.database
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_login_comes_back_to_the_return_url(oidc: Any, bff_client: Any) -> None:
    from tests.support.idp import complete_login

    start = bff_client.get("/bff/login", {"returnUrl": "/orders/42?tab=items"})
    final = complete_login(start["Location"], "http://127.0.0.1/oidc/callback/")
    back = bff_client.get(urlsplit(final).path + "?" + urlsplit(final).query)
    assert back.status_code == 302 and back["Location"] == "/orders/42?tab=items"


# --- /bff/logout ------------------------------------------------------------------------------------


@pytest.mark.database
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_logout_revokes_clears_flushes_and_ends_the_session_at_the_idp(
    oidc: Any, bff_client: Any, settings: Any
) -> None:
    import jwt
    import requests

    from django_bff.stores import get_token_store
    from tests.support.login import browser_login, session_request

    browser_login(bff_client)
    request = session_request(bff_client)
    sid = bff_client.session["_bff_sid"]
    token = get_token_store().get_token(request)
    assert sid == jwt.decode(token.identity_token, options={"verify_signature": False}).get("sid", sid)

    refused = bff_client.get("/bff/logout", {"sid": "not-the-sid"})
    assert refused.status_code == 400 and refused.json() == {"error": "invalid_sid"}
    assert bff_client.get("/bff/logout").status_code == 400
    assert bff_client.session["_auth_user_id"]

    settings.BFF = {**settings.BFF, "LOGOUT_METHOD": "post"}
    response = bff_client.get("/bff/logout", {"sid": sid, "returnUrl": "/"})
    # A page whose form posts to the end-session endpoint: id_token_hint in no URL.
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    action, fields = logout_form(response)
    assert action == oidc.end_session_endpoint
    assert fields == {"post_logout_redirect_uri": "http://127.0.0.1/", "id_token_hint": token.identity_token}
    # The test identity provider (oidc-provider) takes the POST, asks to confirm, and sends the browser back.
    provider = requests.Session()
    confirm = provider.post(action, data=fields, timeout=10)
    assert confirm.status_code == 200, confirm.text[:200]
    confirmed = provider.post(
        urljoin(confirm.url, re.findall(r'action="([^"]+)"', confirm.text)[0]),
        data={**dict(re.findall(r'name="(\w+)" value="([^"]*)"', confirm.text)), "logout": "yes"},
        allow_redirects=False,
        timeout=10,
    )
    assert confirmed.status_code in (302, 303) and confirmed.headers["Location"].startswith("http://127.0.0.1/")
    assert oidc.stats()["revocations"] == 1
    assert "_auth_user_id" not in bff_client.session
    assert get_token_store().get_token(request) is None
    # The refresh token is dead at the provider.
    dead = requests.post(
        oidc.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": token.refresh_token},
        auth=("bff", "bff-secret"),
        timeout=10,
    )
    assert dead.json()["error"] == "invalid_grant"


def test_anonymous_logout_goes_to_the_return_url(client: Client) -> None:
    response = client.get("/bff/logout", {"returnUrl": "/bye"})
    assert response.status_code == 302 and response["Location"] == "/bye"
    assert client.get("/bff/logout", {"returnUrl": "//evil.example"}).status_code == 400


@pytest.mark.database
@pytest.mark.django_db(transaction=True)
def test_logout_without_a_provider_end_session_endpoint(client: Client, user: Any, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "AUTHORITY": None}
    client.force_login(user)
    session = client.session
    session["_bff_sid"] = "s-1"
    session.save()
    response = client.get("/bff/logout", {"sid": "s-1", "returnUrl": "/bye"})
    assert response.status_code == 302 and response["Location"] == "/bye"
    assert "_auth_user_id" not in client.session


@pytest.mark.database
@pytest.mark.django_db(transaction=True)
def test_logout_says_once_what_it_cannot_do_at_the_provider(client: Client, user: Any, caplog: Any) -> None:
    """No revocation or end-session endpoint in discovery: a WARNING for each, the first time (W020, W021)."""
    import logging

    import responses

    with responses.RequestsMock() as mock:
        mock.get("http://127.0.0.1:9/.well-known/openid-configuration", json={"issuer": "http://127.0.0.1:9"})
        for _ in range(2):
            client.force_login(user)
            session = client.session
            session["_bff_sid"] = "s-1"
            session.save()
            assert client.get("/bff/logout", {"sid": "s-1", "returnUrl": "/bye"})["Location"] == "/bye"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "end_session_endpoint" in warnings[0] and "django_bff.W021" in warnings[0]


def logout_form(response: Any) -> tuple[str, dict[str, str]]:
    """The action and the hidden fields of the page /bff/logout answers with LOGOUT_METHOD "post"."""
    page = response.content.decode()
    (action,) = re.findall(r'<form method="post" action="([^"]*)">', page)
    fields = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    return html.unescape(action), {html.unescape(k): html.unescape(v) for k, v in fields}


def logout_with_an_end_session_endpoint(client: Client, user: Any, identity_token: str) -> Any:
    import responses

    client.force_login(user)
    session = client.session
    session["_bff_sid"] = "s-1"
    session["_bff_id_token"] = identity_token
    session.save()
    with responses.RequestsMock() as mock:
        mock.get(
            "http://127.0.0.1:9/.well-known/openid-configuration",
            json={"issuer": "http://127.0.0.1:9", "end_session_endpoint": "http://127.0.0.1:9/session/end?ui=1"},
        )
        return client.get("/bff/logout", {"sid": "s-1"})


@pytest.mark.django_db(transaction=True)
def test_logout_without_an_identity_token_names_the_client(client: Client, user: Any, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "LOGOUT_METHOD": "get"}
    response = logout_with_an_end_session_endpoint(client, user, "f:not-decryptable")
    location = urlsplit(response["Location"])
    assert location.path == "/session/end"
    assert parse_qs(location.query) == {
        "ui": ["1"],
        "post_logout_redirect_uri": ["http://testserver/"],
        "client_id": ["bff"],
    }


@pytest.mark.django_db(transaction=True)
def test_logout_posts_a_form_to_the_end_session_endpoint(client: Client, user: Any, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "LOGOUT_METHOD": "post"}
    response = logout_with_an_end_session_endpoint(client, user, "f:not-decryptable")
    assert response.status_code == 200 and response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    action, fields = logout_form(response)
    # The endpoint's own query stays on the action; the parameters go in the body, none in a URL.
    assert action == "http://127.0.0.1:9/session/end?ui=1"
    assert fields == {"post_logout_redirect_uri": "http://testserver/", "client_id": "bff"}
    assert "_auth_user_id" not in client.session
    # Its one script submits the form, allowed by its hash in the page's own policy; the button is the fallback.
    page = response.content.decode()
    (script,) = re.findall(r"<script>(.*?)</script>", page)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = response["Content-Security-Policy"]
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "nonce" not in policy
    assert '<button type="submit">' in page


@pytest.mark.django_db(transaction=True)
def test_the_logout_form_escapes_what_it_carries(client: Client, user: Any, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "LOGOUT_METHOD": "post"}
    from django_bff.crypto import encrypt

    hint = 'a"><script>alert(1)</script>'
    response = logout_with_an_end_session_endpoint(client, user, encrypt(hint.encode()))
    page = response.content.decode()
    assert "<script>alert(1)" not in page and page.count("<script>") == 1
    assert logout_form(response)[1]["id_token_hint"] == hint


@pytest.mark.parametrize("payload", ATTACKS)
def test_no_return_url_leads_off_the_site_from_logout_either(client: Client, payload: str) -> None:
    response = client.get("/bff/logout", {"returnUrl": payload})
    if response.status_code == 302:
        target = response["Location"]
        assert target.startswith("/") and not target.startswith("//") and "\\" not in target
        assert urlsplit(target).netloc == ""
    else:
        assert response.status_code == 400 and response.json() == {"error": "invalid_return_url"}


# --- the OIDC callback --------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "query",
    [
        {"error": "access_denied"},
        {"error": "access_denied", "state": "not-a-state-of-this-browser"},
        {"error": "login_required", "error_description": "x", "state": ""},
    ],
)
def test_an_error_answer_for_no_login_of_ours_does_not_log_out(
    oidc: Any, bff_client: Any, query: dict[str, str], caplog: Any
) -> None:
    """A top-level link to /oidc/callback/?error=... from any site must not end the session (logout CSRF)."""
    from django_bff.stores import get_token_store
    from tests.support.login import browser_login, session_request

    browser_login(bff_client)
    key = bff_client.session.session_key
    response = bff_client.get("/oidc/callback/", query)
    assert response.status_code == 302 and response["Location"] == "/login-failed/?error=login_failed"
    assert bff_client.session.session_key == key and bff_client.session["_auth_user_id"]
    assert get_token_store().get_token(session_request(bff_client)) is not None
    assert any(r.name == "django.security.django_bff" and "error answer" in r.getMessage() for r in caplog.records)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_error_answer_to_a_login_this_browser_started_ends_it(oidc: Any, bff_client: Any) -> None:
    from tests.support.login import browser_login

    browser_login(bff_client)
    start = bff_client.get("/bff/login", {"returnUrl": "/", "prompt": "none"})
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    response = bff_client.get("/oidc/callback/", {"error": "login_required", "state": state})
    assert response.status_code == 302 and response["Location"] == "/?error=login_required"
    assert "_auth_user_id" not in bff_client.session
    assert state not in bff_client.session.get("oidc_states", {})


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_logging_in_again_as_the_same_user_cycles_the_session_key(oidc: Any, bff_client: Any) -> None:
    from django.contrib.sessions.models import Session

    from django_bff.sessions import list_sessions
    from django_bff.stores import get_token_store
    from tests.support.login import browser_login, session_request

    browser_login(bff_client)
    first_key = bff_client.session.session_key
    first_token = get_token_store().get_token(session_request(bff_client))
    csrf = bff_client.cookies["csrftoken"].value if "csrftoken" in bff_client.cookies else None
    browser_login(bff_client)
    second_key = bff_client.session.session_key
    assert second_key != first_key
    assert not Session.objects.filter(session_key=first_key).exists()
    token = get_token_store().get_token(session_request(bff_client))
    assert token is not None and token.access_token != first_token.access_token
    assert [info.session_key for info in list_sessions(sub="alice")] == [second_key]
    if csrf is not None:
        assert bff_client.cookies["csrftoken"].value != csrf


# --- /bff/diagnostics -------------------------------------------------------------------------------


def test_rfc7638_thumbprint() -> None:
    """The example of RFC 7638 section 3.1."""
    import json

    from django_bff.dpop import jwk_thumbprint

    key = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiF"
            "V4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c"
            "7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF"
            "44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(json.dumps(key)) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    with pytest.raises(ValueError):
        jwk_thumbprint(json.dumps({"kty": "oct", "k": "x"}))


def test_diagnostics_are_off_without_debug(client: Client) -> None:
    assert client.get("/bff/diagnostics").status_code == 404


@pytest.mark.parametrize("debug, setting, on", [(True, None, True), (True, False, False), (False, True, True)])
def test_diagnostics_follow_debug_or_the_setting(
    client: Client, settings: Any, debug: bool, setting: bool | None, on: bool
) -> None:
    settings.DEBUG = debug
    settings.BFF = {**settings.BFF, "DIAGNOSTICS": setting}
    response = client.get("/bff/diagnostics")
    assert response.status_code == (200 if on else 404)
    if on:
        assert response["Cache-Control"] == "no-store"
        assert response.json()["authenticated"] is False and response.json()["user_tokens"] == []


def test_diagnostics_describe_the_sessions_tokens_never_their_values(
    client: Client, user: Any, settings: Any, leak_guard: Any
) -> None:
    import json
    from datetime import datetime, timedelta, timezone

    from cryptography.hazmat.primitives.asymmetric import ec
    from django.core.cache import caches
    from jwt.algorithms import ECAlgorithm

    from django_bff.dpop import jwk_thumbprint
    from django_bff.stores import get_token_store
    from django_bff.testing import UserTokenStoreContract, sample_token
    from django_bff.token_manager import _client_cache_key, _encode_client_token, _in_doubt_key, _mark_in_doubt
    from django_bff.tokens import ClientToken, UserTokenRequestParameters

    settings.BFF = {**settings.BFF, "DIAGNOSTICS": True}
    client.force_login(user)
    request = UserTokenStoreContract().new_request(client.session.session_key, user)
    jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()))
    now = datetime.now(timezone.utc)
    own = sample_token(
        1, issued_at=now, expires_at=now + timedelta(seconds=300), dpop_jwk=jwk, access_token_type="DPoP"
    )
    api = sample_token(2, refresh_token=None, resource="urn:api", issued_at=now, expires_at=now + timedelta(seconds=30))
    store = get_token_store()
    store.store_token(request, own)
    store.store_token(request, api, UserTokenRequestParameters(resource="urn:api"))
    request.session.save()
    app = ClientToken("app-token-AAAAAAAAAAAA", expires_at=now + timedelta(seconds=600), issued_at=now)
    caches["default"].set(_client_cache_key("default", None, None), _encode_client_token(app), 600)
    _mark_in_doubt(_in_doubt_key(own), 12)
    for token in (own, api, app):
        leak_guard.add(
            token.access_token, getattr(token, "refresh_token", None), getattr(token, "identity_token", None)
        )
    leak_guard.add(json.loads(jwk)["d"])

    response = client.get("/bff/diagnostics")
    assert response.status_code == 200
    data = response.json()
    assert data["authenticated"] is True and data["sid"] is None and data["session_expires_in"] > 0
    first, second = data["user_tokens"]
    assert first["token_type"] == "DPoP" and first["has_refresh_token"] and first["has_identity_token"]
    assert first["dpop_jkt"] == jwk_thumbprint(jwk) and 290 < first["expires_in"] <= 300
    assert first["refresh_window"] == 60 and first["needs_refresh"] is False
    assert second["resource"] == "urn:api" and not second["has_refresh_token"] and second["refresh_window"] == 15
    assert 10 <= data["refresh_token_in_doubt_for"] <= 12
    assert data["client_tokens"]["default"]["expires_in"] > 590
    text = response.content.decode()
    for secret in (own.access_token, own.refresh_token, api.access_token, app.access_token, json.loads(jwk)["d"]):
        assert secret not in text


def test_E039_and_the_deploy_check_E040(settings: Any) -> None:
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from django_bff.checks import check_deploy, check_settings

    settings.BFF = {**settings.BFF, "DIAGNOSTICS": "yes"}
    assert "django_bff.E039" in {m.id for m in check_settings()}
    settings.BFF = {**settings.BFF, "DIAGNOSTICS": True}
    settings.DEBUG = False
    assert [m.id for m in check_deploy()] == ["django_bff.E040"]
    with pytest.raises(SystemCheckError, match="E040"):
        call_command("check", "--deploy", "--fail-level", "ERROR")
    settings.DEBUG = True
    assert check_deploy() == []
    settings.BFF = {**settings.BFF, "DIAGNOSTICS": None}
    settings.DEBUG = False
    assert check_deploy() == []
