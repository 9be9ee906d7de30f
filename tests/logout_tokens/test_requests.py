"""``/bff/backchannel``: a provider that fails, malformed requests, and what the security log says.

The checks every refusal passes are in ``tests/support/logout_tokens.py`` (``assert_refused``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import responses
from django.test import Client

from django_bff.logout_tokens import (
    MAX_TOKEN_LENGTH,
)
from tests.support.logout_tokens import (
    FORM,
    SECURITY_LOGGER,
    URL,
    TokenFactory,
    assert_refused,
    post_form,
)

pytestmark = pytest.mark.django_db


# --- configuration and provider failures --------------------------------------------------------


@pytest.mark.parametrize("authority", [None, ""])
def test_authority_unset_is_refused(
    authority: Any, client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    token = make_token()
    settings.BFF = {**settings.BFF, "AUTHORITY": authority}
    error = assert_refused(client, token)
    assert "AUTHORITY" in str(error)


@pytest.mark.parametrize("status", [500, 404])
def test_jwks_endpoint_failing_is_refused(
    status: int, client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    provider.replace(responses.GET, settings.OIDC_OP_JWKS_ENDPOINT, status=status, body="oops")
    error = assert_refused(client, make_token())
    assert "JWKS" in str(error)


def test_jwks_endpoint_answering_garbage_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    provider.replace(responses.GET, settings.OIDC_OP_JWKS_ENDPOINT, json={"no": "keys"})
    assert_refused(client, make_token())


def test_jwks_endpoint_unreachable_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, settings: Any
) -> None:
    import requests

    provider.replace(responses.GET, settings.OIDC_OP_JWKS_ENDPOINT, body=requests.ConnectionError("refused"))
    assert_refused(client, make_token())


# --- malformed requests -------------------------------------------------------------------------


def test_token_longer_than_the_limit_is_refused(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    token = make_token(padding="x" * MAX_TOKEN_LENGTH)
    assert len(token) > MAX_TOKEN_LENGTH
    error = assert_refused(client, token)
    assert "too long" in str(error)
    assert len(provider.calls) == 0


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "eyJ.eyJ.x", "....", pytest.param("ééé", id="non-ascii")])
def test_not_a_jwt_is_refused(garbage: str, client: Client, provider: responses.RequestsMock) -> None:
    assert_refused(client, garbage)
    assert len(provider.calls) == 0


def test_get_is_not_allowed(client: Client, provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    assert client.get(URL, {"logout_token": make_token()}).status_code == 405
    assert client.put(URL, urlencode({"logout_token": make_token()}), content_type=FORM).status_code == 405


def test_json_body_is_refused_and_does_not_consume_the_jti(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory
) -> None:
    token = make_token()
    response = client.post(URL, {"logout_token": token}, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_logout_token"}
    assert post_form(client, token).status_code == 200


def test_multipart_body_is_refused(client: Client, provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    """The spec's POST is form-urlencoded; the test client's default (multipart) is refused."""
    response = client.post(URL, {"logout_token": make_token()})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_logout_token"}


def test_form_with_charset_passes(client: Client, provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    body = urlencode({"logout_token": make_token()})
    response = client.post(URL, body, content_type=FORM + "; charset=UTF-8")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(None, id="empty-body"),
        pytest.param({"token": "x"}, id="other-field"),
        pytest.param({"logout_token": ""}, id="empty-value"),
    ],
)
def test_missing_logout_token_is_refused(body: dict[str, str] | None, client: Client, provider: Any) -> None:
    response = client.post(URL, urlencode(body or {}), content_type=FORM)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_logout_token"}
    assert len(provider.calls) == 0


def test_view_is_csrf_exempt(provider: responses.RequestsMock, make_token: TokenFactory) -> None:
    client = Client(enforce_csrf_checks=True)
    assert post_form(client, make_token()).status_code == 200


# --- the security log ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda f: f(iss="http://evil.example"), id="wrong-iss"),
        pytest.param(lambda f: f(typ="JWT"), id="wrong-typ"),
        pytest.param(lambda f: f(kid="unknown"), id="unknown-kid"),
        pytest.param(lambda f: f.hand_made({"alg": "none"}), id="alg-none"),
    ],
)
def test_refused_token_is_logged_without_the_token(
    bad: Callable[[TokenFactory], str],
    client: Client,
    provider: responses.RequestsMock,
    make_token: TokenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = bad(make_token)
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        response = post_form(client, token)
    assert response.status_code == 400
    warnings = [r for r in caplog.records if r.name == SECURITY_LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith("back-channel logout refused: ")
    for record in caplog.records:
        text = record.getMessage()
        assert token not in text
        for part in token.split("."):
            assert len(part) < 8 or part not in text


def test_form_refusal_is_logged(
    client: Client, provider: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        client.post(URL, {"logout_token": "x"}, content_type="application/json")
    assert [r.getMessage() for r in caplog.records if r.name == SECURITY_LOGGER] == [
        "back-channel logout refused: not a form post"
    ]


def test_accepted_token_logs_no_warning(
    client: Client, provider: responses.RequestsMock, make_token: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    token = make_token()
    with caplog.at_level(logging.DEBUG):
        assert post_form(client, token).status_code == 200
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert all(token not in r.getMessage() for r in caplog.records)
