"""The login hand-off's DPoP part: the key ``/bff/login`` makes, keeps encrypted by ``state``, and hands over."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.test import Client

from django_bff import handoff
from django_bff.dpop import KEY_ALGORITHMS, jwk_thumbprint, make_proof
from django_bff.session_keys import OIDC_STATES_KEY, SESSION_DPOP_LOGIN_KEYS

pytestmark = pytest.mark.django_db


def test_no_key_without_dpop() -> None:
    assert handoff.login_key() is None
    assert "dpop_jkt" not in Client().get("/bff/login")["Location"]


@pytest.mark.parametrize("algorithm", KEY_ALGORITHMS)
def test_a_login_key_of_each_algorithm_signs_proofs(settings: Any, algorithm: str) -> None:
    settings.BFF = {**settings.BFF, "DPOP": {"ALGORITHM": algorithm}}
    key = handoff.login_key()
    assert key is not None and "d" in json.loads(key) and json.loads(key)["alg"] == algorithm
    proof = make_proof(key, "POST", "https://idp.example/token")
    header = jwt.get_unverified_header(proof)
    assert header["alg"] == algorithm and "d" not in header["jwk"] and "key_ops" not in header["jwk"]
    public = jwt.PyJWK(header["jwk"], algorithm=algorithm)
    assert jwt.decode(proof, public.key, algorithms=[algorithm])["htm"] == "POST"
    assert handoff.login_key() != key  # one key per login


def parameters(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_bff_login_binds_the_code_to_a_key_kept_encrypted_by_state(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "DPOP": True}
    browser = Client()
    first, second = (parameters(browser.get("/bff/login")["Location"]) for _ in range(2))
    session = browser.session
    kept = session[SESSION_DPOP_LOGIN_KEYS]
    assert set(kept) == {first["state"], second["state"]}  # two logins under way, two keys

    request = type("Request", (), {"session": session})()
    key = handoff.take_login_key(request, first["state"])  # type: ignore[arg-type]
    assert key is not None and jwk_thumbprint(key) == first["dpop_jkt"] != second["dpop_jkt"]
    assert json.loads(key)["d"] not in json.dumps(dict(browser.session))  # encrypted at rest
    assert handoff.take_login_key(request, first["state"]) is None  # taken once  # type: ignore[arg-type]
    assert handoff.take_login_key(request, None) is None  # type: ignore[arg-type]


def test_keys_of_logins_the_browser_no_longer_has_are_dropped(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "DPOP": True}
    browser = Client()
    first = parameters(browser.get("/bff/login")["Location"])["state"]
    session = browser.session
    del session[OIDC_STATES_KEY][first]  # mozilla-django-oidc let it go (at most 50 are kept)
    session.save()
    second = parameters(browser.get("/bff/login")["Location"])["state"]
    assert set(browser.session[SESSION_DPOP_LOGIN_KEYS]) == {second}


def test_a_key_that_cannot_be_decrypted_is_none(settings: Any, caplog: Any) -> None:
    request = type("Request", (), {"session": {SESSION_DPOP_LOGIN_KEYS: {"s": "not-fernet"}}})()
    assert handoff.take_login_key(request, "s") is None  # type: ignore[arg-type]
    assert "could not be decrypted" in caplog.text
