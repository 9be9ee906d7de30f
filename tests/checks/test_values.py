"""The check of ``settings.BFF`` itself and its plain values (:mod:`django_bff.checks.values`)."""

from __future__ import annotations

from typing import Any

import pytest

from django_bff import conf
from tests.support.checks import ids


def test_E001_bff_not_a_dict(settings: Any) -> None:
    settings.BFF = ["REFRESH_BEFORE_EXPIRATION"]
    assert ids() == ["django_bff.E001"]


def test_E002_unknown_key(bff: Any) -> None:
    assert "django_bff.E002" in bff(REFRESH_BEFOR_EXPIRATION=60)


def test_E003_removed_setting(bff: Any, monkeypatch: Any) -> None:
    monkeypatch.setitem(conf.REMOVED_SETTINGS, "OLD_THING", "0.1.0 replaced it with NEW_THING")
    result = bff(OLD_THING=1)
    assert "django_bff.E003" in result and "django_bff.E002" not in result


@pytest.mark.parametrize(
    "name, value",
    [
        ("REFRESH_BEFORE_EXPIRATION", -1),
        ("REFRESH_BEFORE_EXPIRATION", "60"),
        ("REFRESH_BEFORE_EXPIRATION", True),
        ("REFRESH_LOCK_TIMEOUT", 0),
        ("REFRESH_LOCK_WAIT", -5),
        ("RETRY_AFTER", 1.5),
        ("RETRY_AFTER", 0),
        ("BACKCHANNEL_CONNECT_TIMEOUT", 0),
        ("BACKCHANNEL_READ_TIMEOUT", None),
        ("BACKCHANNEL_POOL_SIZE", 0),
        ("DISCOVERY_CACHE_TTL", -1),
        ("JWKS_CACHE_TTL", "1h"),
        ("JWKS_MIN_REFETCH_INTERVAL", -1),
        ("BACKCHANNEL_LOGOUT_MAX_AGE", 0),
        ("BACKCHANNEL_LOGOUT_MAX_AGE", "5m"),
    ],
)
def test_E005_bad_numbers(bff: Any, name: str, value: Any) -> None:
    assert "django_bff.E005" in bff(**{name: value})


@pytest.mark.parametrize("name", ["SAVE_TOKENS", "ENCRYPT_TOKENS"])
def test_E006_not_a_boolean(bff: Any, name: str) -> None:
    assert "django_bff.E006" in bff(**{name: "yes"})


@pytest.mark.parametrize("value", ["no.such.factory", "django_bff.conf.DEFAULTS", 42])
def test_E007_backchannel_session_not_callable(bff: Any, value: Any) -> None:
    assert "django_bff.E007" in bff(BACKCHANNEL_SESSION=value)


@pytest.mark.parametrize("value", ["one-key", [], ["not-a-fernet-key"]])
def test_E008_bad_encryption_keys(bff: Any, value: Any) -> None:
    assert "django_bff.E008" in bff(TOKEN_ENCRYPTION_KEYS=value)


def test_E008_good_keys_pass(bff: Any) -> None:
    from cryptography.fernet import Fernet

    assert "django_bff.E008" not in bff(TOKEN_ENCRYPTION_KEYS=[Fernet.generate_key().decode(), Fernet.generate_key()])


def test_E012_unknown_cache(bff: Any) -> None:
    assert "django_bff.E012" in bff(CACHE="nope")


@pytest.mark.parametrize("name", ["AUTHORITY", "REVOCATION_ENDPOINT"])
@pytest.mark.parametrize("value", ["example.com", "ftp://example.com", "https://", 5])
def test_E015_not_an_absolute_url(bff: Any, name: str, value: Any) -> None:
    assert "django_bff.E015" in bff(**{name: value})


@pytest.mark.parametrize("value", ["/no/such/ca.pem", 1])
def test_E016_bad_verify(bff: Any, value: Any) -> None:
    assert "django_bff.E016" in bff(BACKCHANNEL_VERIFY=value)


def test_E016_ca_bundle_path_passes(bff: Any, tmp_path: Any) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    assert "django_bff.E016" not in bff(BACKCHANNEL_VERIFY=str(bundle))


def test_W004_lock_shorter_than_a_token_request(bff: Any) -> None:
    assert "django_bff.W004" in bff(REFRESH_LOCK_TIMEOUT=5, BACKCHANNEL_CONNECT_TIMEOUT=2, BACKCHANNEL_READ_TIMEOUT=5)


@pytest.mark.parametrize(
    "values",
    [
        {"ANTIFORGERY_HEADER": "X CSRF"},
        {"ANTIFORGERY_HEADER": ""},
        {"ANTIFORGERY_VALUE": " "},
        {"ANTIFORGERY_VALUE": 1},
    ],
)
def test_E023_bad_antiforgery_header(bff: Any, values: dict[str, Any]) -> None:
    assert "django_bff.E023" in bff(**values)


@pytest.mark.parametrize(
    "values",
    [{"MAX_REQUEST_BODY": -1}, {"MAX_REQUEST_BODY": "10MB"}, {"PROXY_READ_TIMEOUT": 0}, {"PROXY_CHUNK_SIZE": 10}],
)
def test_E005_proxy_numbers(bff: Any, values: dict[str, Any]) -> None:
    assert "django_bff.E005" in bff(**values)


def test_E005_unlimited_body_is_allowed(bff: Any) -> None:
    assert "django_bff.E005" not in bff(MAX_REQUEST_BODY=None)


@pytest.mark.parametrize("value", ["/no/ca.pem", 1])
def test_E024_proxy_verify(bff: Any, value: Any) -> None:
    assert "django_bff.E024" in bff(PROXY_VERIFY=value)


@pytest.mark.parametrize("value", ["/no/cert.pem", ("a",)])
def test_E051_proxy_client_cert(bff: Any, value: Any) -> None:
    assert "django_bff.E051" in bff(PROXY_CLIENT_CERT=value)


def test_E024_existing_files_pass(bff: Any, tmp_path: Any) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("")
    key.write_text("")
    found = bff(PROXY_CLIENT_CERT=(str(cert), str(key)), PROXY_VERIFY=str(cert))
    assert "django_bff.E024" not in found and "django_bff.E051" not in found


@pytest.mark.parametrize("value", ["/bff/", "bff", 5])
def test_E032_bad_base_path(bff: Any, value: Any) -> None:
    assert "django_bff.E032" in bff(BASE_PATH=value)


@pytest.mark.parametrize(
    "value", ["app.example.com", ["https://app.example.com/path"], ["ftp://x"], ["https://u@x"], "https://x"]
)
def test_E033_bad_return_origins(bff: Any, value: Any) -> None:
    assert "django_bff.E033" in bff(ALLOWED_RETURN_ORIGINS=value)


def test_good_endpoint_settings(bff: Any) -> None:
    assert bff(BASE_PATH="", ALLOWED_RETURN_ORIGINS=["https://app.example.com", "http://localhost:3000/"]) == [
        "django_bff.W005",
        "django_bff.W010",
    ]


@pytest.mark.parametrize("value", [403, "401", True, None])
def test_E035_bad_anonymous_response(bff: Any, value: Any) -> None:
    assert "django_bff.E035" in bff(ANONYMOUS_SESSION_RESPONSE=value)


@pytest.mark.parametrize("value", ["POST", "Get", "redirect", "", None, 1])
def test_E052_bad_logout_method(bff: Any, value: Any) -> None:
    assert "django_bff.E052" in bff(LOGOUT_METHOD=value)


@pytest.mark.parametrize("value", ["post", "get"])
def test_E052_logout_methods(bff: Any, value: str) -> None:
    assert "django_bff.E052" not in bff(LOGOUT_METHOD=value)


@pytest.mark.parametrize("value", ["yes", 1, ["ES256"], {"ALG": "ES256"}, {"ACCEPT_BEARER": "no"}])
def test_E053_bad_dpop(bff: Any, value: Any) -> None:
    found = bff(DPOP=value)
    assert "django_bff.E053" in found and "django_bff.E054" not in found


@pytest.mark.parametrize("value", ["HS256", "none", "ES384", ""])
def test_E054_unknown_dpop_algorithm(bff: Any, value: str) -> None:
    found = bff(DPOP={"ALGORITHM": value})
    assert "django_bff.E054" in found and "django_bff.E053" not in found


@pytest.mark.parametrize(
    "value", [True, False, None, {}, {"ALGORITHM": "EdDSA"}, {"ALGORITHM": "PS256", "ACCEPT_BEARER": True}]
)
def test_dpop_values(bff: Any, value: Any) -> None:
    assert not {"django_bff.E053", "django_bff.E054"} & set(bff(DPOP=value))


@pytest.mark.parametrize(
    ("name", "value"),
    [("USER_CLAIMS", "sub"), ("USER_CLAIMS", [1]), ("USER_CLAIMS_EXCLUDED", None), ("USER_CLAIMS_EXCLUDED", "x")],
)
def test_E036_bad_claim_lists(bff: Any, name: str, value: Any) -> None:
    assert "django_bff.E036" in bff(**{name: value})


@pytest.mark.parametrize("value", [[], ["none"], ["HS256"], ["RS256", "XX1"], "RS256"])
def test_E037_bad_logout_algorithms(bff: Any, value: Any) -> None:
    assert "django_bff.E037" in bff(BACKCHANNEL_LOGOUT_ALGORITHMS=value)


def test_good_session_settings(bff: Any) -> None:
    assert bff(
        SESSION_INDEX={"BACKEND": "django_bff.sessions.CacheSessionIndex", "OPTIONS": {"CACHE": "default"}},
        ANONYMOUS_SESSION_RESPONSE=200,
        USER_CLAIMS=["sub", "name"],
        USER_CLAIMS_EXCLUDED=[],
        BACKCHANNEL_LOGOUT_ALGORITHMS=["ES256"],
        REVOKE_REFRESH_TOKEN_ON_LOGOUT=False,
    ) == ["django_bff.W005", "django_bff.W010"]


def test_E006_revoke_on_logout_must_be_a_boolean(bff: Any) -> None:
    assert "django_bff.E006" in bff(REVOKE_REFRESH_TOKEN_ON_LOGOUT="yes")
