"""The system checks as a whole (:mod:`django_bff.checks`).

Registered one per concern with its tag; short messages with hints; no side
effects; ids written whole. Each concern's ids are tested in the module named
after it.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from django_bff.checks import check_settings
from tests.support.checks import ids


def test_test_settings_pass_with_only_the_locmem_and_http_cookie_warnings() -> None:
    # The suite talks plain http to its servers, so its cookie cannot be Secure.
    assert ids() == ["django_bff.W005", "django_bff.W010"]


def test_manage_py_check_runs_our_checks(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "REFRESH_BEFORE_EXPIRATION": -1}
    from django.core.management.base import SystemCheckError

    with pytest.raises(SystemCheckError, match="django_bff.E005"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_messages_are_short_and_have_hints(settings: Any) -> None:
    settings.BFF = {"NOPE": 1, "SAVE_TOKENS": "yes", "REFRESH_LOCK_TIMEOUT": 1, "CACHE": "missing"}
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    messages = check_settings()
    assert messages
    for message in messages:
        assert len(message.msg) < 80, message.msg
        assert message.hint


def test_the_structured_settings_messages_are_short_and_have_hints(settings: Any) -> None:
    route = {"PREFIX": "api/x/", "TARGET": "https://api.example.com/"}
    settings.BFF = {
        **settings.BFF,
        "REMOTE_APIS": [
            ["x"],
            {**route, "PREFIX": "/x/"},
            route,
            {**route, "PREFIX": "api/x"},
            {**route, "PREFIX": "api/y/", "TOKEN_TYPE": "users", "OPTIONAL": "no", "CLIENT": "nope"},
            {**route, "PREFIX": "api/z/", "TARGET": "ftp://x/", "RETRIEVER": "no.R", "FORWARD_HEADERS": ["Cookie"]},
        ],
        "ACCESS_TOKEN_RETRIEVERS": [["x"], {"PATTERN": "(", "RETRIEVER": "no.such.R"}],
        "CLIENTS": {
            "billing": {"CLIENT_SECRET": "s"},
            "a": {"CLIENT_ID": "a", "AUTH_METHOD": "magic", "ISSUER": "x"},
            "b": {"CLIENT_ID": "b", "AUTH_METHOD": "private_key_jwt", "TOKEN_ENDPOINT": "/t"},
            "c": {"CLIENT_ID": "c", "AUTH_METHOD": "tls_client_auth"},
            "d": {"CLIENT_ID": "d"},
        },
        "PROXY_CLIENT_CERT": "/no/cert.pem",
        "LOGOUT_METHOD": "redirect",
    }
    messages = check_settings()
    found = {m.id for m in messages}
    assert found >= {
        "django_bff.E019",
        "django_bff.E021",
        "django_bff.E022",
        "django_bff.E026",
        "django_bff.E027",
        "django_bff.E029",
        "django_bff.E031",
        "django_bff.E038",
        "django_bff.E041",
        "django_bff.E042",
        "django_bff.E043",
        "django_bff.E044",
        "django_bff.E045",
        "django_bff.E046",
        "django_bff.E047",
        "django_bff.E048",
        "django_bff.E049",
        "django_bff.E050",
        "django_bff.E051",
        "django_bff.E052",
    }
    for message in messages:
        assert len(message.msg) < 80, message.msg
        assert message.hint


def test_one_check_per_concern_each_with_its_tag() -> None:
    from django.core.checks import Tags
    from django.core.checks.registry import registry

    from django_bff import checks
    from django_bff.checks.security import check_security

    ours = {c for c in registry.get_checks(include_deployment_checks=True) if c.__module__.startswith("django_bff")}
    assert ours == {check for check, _ in checks.CONCERNS} | {checks.check_deploy}
    security = {c for c in ours if Tags.security in getattr(c, "tags", ())}
    assert security == {check_security, checks.check_deploy}


def test_checks_have_no_side_effects(bff: Any) -> None:
    from django_bff.sessions import get_session_index
    from django_bff.stores import get_token_store

    store, index = get_token_store(), get_session_index()
    bff(USER_TOKEN_STORE={"BACKEND": "django_bff.stores.SessionTokenStore", "OPTIONS": {}})
    store, index = get_token_store(), get_session_index()
    check_settings()
    assert get_token_store() is store and get_session_index() is index


def test_ids_are_written_whole() -> None:
    """``grep django_bff.E016`` finds the code: no id is put together from pieces."""
    from pathlib import Path

    import django_bff

    root = Path(django_bff.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert 'f"django_bff.{' not in text and "f'django_bff.{" not in text, path
