"""The leak guard itself must catch what it is there to catch."""

from __future__ import annotations

import logging

from tests.support.leaks import LeakGuard


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("django_bff.x", logging.INFO, __file__, 1, message, args, None)


def test_it_catches_jwts_and_known_secrets() -> None:
    guard = LeakGuard()
    guard.add("opaque-refresh-token-value", None, "short")
    guard.emit(record("calling with %s", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"))
    guard.emit(record("refresh token %s", "opaque-refresh-token-value"))
    guard.emit(record("token request (refresh_token) -> 200"))
    guard.emit(record("short is too short to be a secret"))
    assert len(guard.leaks()) == 2


def test_it_reads_tracebacks_too() -> None:
    guard = LeakGuard()
    guard.add("opaque-refresh-token-value")
    try:
        raise ValueError("bad opaque-refresh-token-value")
    except ValueError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    guard.emit(rec)
    assert guard.leaks()


def test_it_reads_every_response_the_test_process_answers(client: object, db: object) -> None:
    from django.test import Client

    from tests.support import leaks

    assert isinstance(client, Client)
    leaks.clear()
    client.get("/bff/user", HTTP_X_CSRF="1")
    [(path, text)] = leaks.RECORDED
    assert path == "/bff/user" and text.startswith("401\n") and "not_authenticated" in text
    guard = LeakGuard()
    guard.add("not_authenticated")  # pretend it were a token
    assert guard.leaks() == [f"response to /bff/user: {text[:200]}"]
    leaks.clear()


def test_the_logout_id_token_hint_is_the_one_exception() -> None:
    from django.http import HttpResponseRedirect

    from tests.support.leaks import _headers

    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    text = _headers(HttpResponseRedirect(f"https://idp/end?id_token_hint={jwt}&post_logout_redirect_uri=x"))
    assert jwt not in text and "post_logout_redirect_uri" in text


def test_in_the_logout_form_too_only_the_id_token_hint_field_is_excepted() -> None:
    from django.http import HttpRequest, HttpResponse

    from tests.support import leaks

    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    page = (
        f'<form><input type="hidden" name="id_token_hint" value="{jwt}">'
        f'<input type="hidden" name="other" value="{jwt}"></form>'
    )
    request = HttpRequest()
    request.path = "/bff/logout"
    leaks.clear()
    leaks.ResponseRecorder(lambda _: HttpResponse(page))(request)
    [(_, text)] = leaks.RECORDED
    leaks.clear()
    assert text.count(jwt) == 1 and 'name="id_token_hint" value="(id_token_hint)"' in text


def test_it_knows_a_dpop_keys_private_members() -> None:
    from tests.support.dpop_tokens import bound_token, private_d

    token = bound_token().user_token()
    guard = LeakGuard()
    guard.add_token(token)
    guard.emit(record("the key's public half %s", '{"kty": "EC", "crv": "P-256"}'))
    assert guard.leaks() == []
    guard.emit(record("oops %s", private_d(token.dpop_jwk or "")))
    assert len(guard.leaks()) == 1
