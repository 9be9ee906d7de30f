"""System checks: ``settings.BFF`` itself and its plain values, the token store, caches, OIDC and sessions.

The routes, the named clients and the security concern have modules of their own
(``test_checks_routes.py``, ``test_checks_clients.py``, ``test_checks_security.py``).
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from django_bff import conf
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
    }
    for message in messages:
        assert len(message.msg) < 80, message.msg
        assert message.hint


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
    "store",
    [
        "not a dict",
        {"BACKEND": "no.such.Store"},
        {"BACKEND": "django_bff.tokens.UserToken"},
        {"BACKEND": "django_bff.stores.CacheTokenStore", "OPTIONS": {"TYPO": 1}},
    ],
)
def test_E004_unusable_store(bff: Any, store: Any) -> None:
    assert "django_bff.E004" in bff(USER_TOKEN_STORE=store)


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


@pytest.mark.parametrize("name", ["OIDC_RP_CLIENT_ID", "OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_RP_CLIENT_SECRET"])
def test_E010_missing_mozilla_settings(settings: Any, name: str) -> None:
    delattr(settings, name)
    assert "django_bff.E010" in ids()


def test_E010_token_endpoint_needed_without_authority(settings: Any, bff: Any) -> None:
    delattr(settings, "OIDC_OP_TOKEN_ENDPOINT")
    assert "django_bff.E010" not in bff()
    assert "django_bff.E010" in bff(AUTHORITY=None)


def test_E011_backend_missing(settings: Any) -> None:
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "no.such.Backend"]
    assert "django_bff.E011" in ids()


def test_E012_unknown_cache(bff: Any) -> None:
    assert "django_bff.E012" in bff(CACHE="nope")


def test_E013_dummy_cache(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    assert "django_bff.E013" in ids()


def test_E014_cache_store_unknown_cache(bff: Any) -> None:
    assert "django_bff.E014" in bff(
        USER_TOKEN_STORE={"BACKEND": "django_bff.stores.CacheTokenStore", "OPTIONS": {"CACHE": "x"}}
    )


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


def test_E017_asymmetric_algo_without_keys(settings: Any, bff: Any) -> None:
    delattr(settings, "OIDC_OP_JWKS_ENDPOINT")
    assert "django_bff.E017" not in bff()  # AUTHORITY's discovery supplies the JWKS
    assert "django_bff.E017" in bff(AUTHORITY=None)


def test_W004_lock_shorter_than_a_token_request(bff: Any) -> None:
    assert "django_bff.W004" in bff(REFRESH_LOCK_TIMEOUT=5, BACKCHANNEL_CONNECT_TIMEOUT=2, BACKCHANNEL_READ_TIMEOUT=5)


def test_W005_locmem_cache() -> None:
    assert "django_bff.W005" in ids()


def test_no_W005_on_redis(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    assert ids() == ["django_bff.W010"]


def test_E010_public_client_without_secret_passes(settings: Any) -> None:
    settings.OIDC_RP_CLIENT_SECRET = None
    assert "django_bff.E010" not in ids()


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


@pytest.mark.parametrize(
    "value",
    ["nope", {"BACKEND": "django_bff.nope.X"}, {"BACKEND": "django_bff.stores.SessionTokenStore"}],
)
def test_E034_bad_session_index(bff: Any, value: Any) -> None:
    assert "django_bff.E034" in bff(SESSION_INDEX=value)


@pytest.mark.parametrize("value", [403, "401", True, None])
def test_E035_bad_anonymous_response(bff: Any, value: Any) -> None:
    assert "django_bff.E035" in bff(ANONYMOUS_SESSION_RESPONSE=value)


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


def test_W016_no_authority_for_backchannel_logout(bff: Any) -> None:
    assert "django_bff.W016" in bff(AUTHORITY=None)


REDIS = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
DJANGO_REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}


@pytest.mark.parametrize(
    "caches, bff, engine, warned",
    [
        ({"default": REDIS}, {}, "django.contrib.sessions.backends.db", True),
        ({"default": {**REDIS, "OPTIONS": {"SOCKET_TIMEOUT": 1}}}, {}, "django.contrib.sessions.backends.db", True),
        (
            {"default": {**REDIS, "OPTIONS": {"SOCKET_TIMEOUT": 1, "SOCKET_CONNECT_TIMEOUT": 1}}},
            {},
            "django.contrib.sessions.backends.db",
            False,
        ),
        ({"default": DJANGO_REDIS}, {}, "django.contrib.sessions.backends.db", True),
        (
            {"default": {**DJANGO_REDIS, "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1}}},
            {},
            "django.contrib.sessions.backends.db",
            False,
        ),
        # Caches django_bff does not use are not its business...
        (
            {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "other": REDIS},
            {},
            "django.contrib.sessions.backends.db",
            False,
        ),
        # ...but the session engine's, the token store's and the session index's are.
        (
            {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "other": REDIS},
            {},
            "django.contrib.sessions.backends.cache",
            True,
        ),
        (
            {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "other": REDIS},
            {"USER_TOKEN_STORE": {"BACKEND": "django_bff.stores.CacheTokenStore", "OPTIONS": {"CACHE": "other"}}},
            "django.contrib.sessions.backends.db",
            True,
        ),
        (
            {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}, "other": REDIS},
            {"SESSION_INDEX": {"BACKEND": "django_bff.sessions.CacheSessionIndex", "OPTIONS": {"CACHE": "other"}}},
            "django.contrib.sessions.backends.db",
            True,
        ),
    ],
)
def test_W017_redis_without_socket_timeouts(
    settings: Any, caches: dict[str, Any], bff: dict[str, Any], engine: str, warned: bool
) -> None:
    settings.CACHES = caches
    settings.SESSION_CACHE_ALIAS = "other" if "other" in caches else "default"
    settings.SESSION_ENGINE = engine
    settings.BFF = {**settings.BFF, **bff}
    assert ("django_bff.W017" in ids()) is warned


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
