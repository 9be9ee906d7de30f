from __future__ import annotations

import importlib

import pytest

import django_bff

#: django_bff.proxy.headers, exported by django_bff.proxy too.
HEADER_POLICY = {
    "validate_forward_headers",
    "is_identity_header",
    "HOP_BY_HOP",
    "NEVER_FORWARDED",
    "SET_BY_BFF",
    "IDENTITY_HEADERS",
    "IDENTITY_HEADER_PREFIXES",
    "NEVER_RETURNED",
    "NEVER_RETURNED_PREFIXES",
}

PUBLIC = {
    "django_bff.auth": {"BFFAuthenticationBackend", "PENDING_TOKEN_ATTR"},
    "django_bff.handoff": {"hand_over", "deliver_pending_tokens", "session_identity_token", "PENDING_TOKEN_ATTR"},
    "django_bff.session_keys": {"SESSION_SID_KEY", "SESSION_SUB_KEY", "SESSION_REF_KEY", "SESSION_RECORD_KEY"},
    "django_bff.tokens": {"UserToken", "ClientToken", "UserTokenRequestParameters", "TokenType"},
    "django_bff.token_manager": {
        "get_user_access_token",
        "aget_user_access_token",
        "revoke_refresh_token",
        "arevoke_refresh_token",
    },
    "django_bff.token_manager.flow": {"Call", "Wait", "Op", "Flow", "call", "network", "run_sync", "run_async"},
    "django_bff.token_manager.user": {"stored_token_flow", "refresh_flow", "revoke_flow", "lock_key", "in_doubt_key"},
    "django_bff.token_manager.single_flight": {"take_lock", "cached_token_flow", "CachedTokenRequest"},
    "django_bff.token_manager.client": {"client_token_flow", "exchange_token", "client_cache_key"},
    "django_bff.stores": {"UserTokenStore", "SessionTokenStore", "CacheTokenStore", "CookieTokenStore"},
    "django_bff.stores.base": {"UserTokenStore", "resource_key"},
    "django_bff.stores.record": {"RecordTokenStore"},
    "django_bff.stores.session": {"SessionTokenStore", "CookieTokenStore"},
    "django_bff.stores.cache": {"CacheTokenStore"},
    "django_bff.token_memory": {"memory_key", "recall", "remember", "forget_session_tokens", "forget_all"},
    "django_bff.backchannel": {"default_session"},
    "django_bff.http": {"UserAccessTokenAuth", "ClientAccessTokenAuth"},
    "django_bff.signals": {"token_response_received", "token_refreshed", "token_refresh_failed"},
    "django_bff.exceptions": {"BFFError"},
    "django_bff.testing": {"UserTokenStoreContract"},
    "django_bff.conf": {"bff_settings", "DEFAULTS", "load_backend", "on_reload", "per_settings"},
    "django_bff.conf.setting": {"Setting"},
    "django_bff.conf.kinds": {"Number", "Integer", "Flag"},
    "django_bff.conf.references": {"Backend", "ImportString"},
    "django_bff.conf.declared": {"BFFSettings", "DEFAULTS", "SETTINGS", "LOGOUT_ALGORITHMS"},
    "django_bff.conf.token_groups": {"TokenStorage", "TokenLifetime", "TokenService"},
    "django_bff.conf.http_groups": {"RemoteAPIRoutes", "NamedClients", "SessionEndpoints", "Antiforgery", "Proxy"},
    "django_bff.conf.problems": {"Problem", "Parsed", "InvalidSetting"},
    "django_bff.conf.loading": {"load_class", "make_backend"},
    "django_bff.conf.built": {"per_settings", "PerSettings", "on_reload"},
    "django_bff.crypto": set(),
    "django_bff.codecs": {
        "encode_user_token",
        "decode_user_token",
        "encode_client_token",
        "decode_client_token",
        "valid_record",
        "record_token",
        "record_tokens",
        "with_token",
    },
    "django_bff.locks": {"CacheLock", "Polling", "Waited"},
    "django_bff.oauth": set(),
    "django_bff.receivers": {"deliver_pending_tokens", "SESSION_SID_KEY", "SESSION_ID_TOKEN_KEY"},
    "django_bff.checks": {"check_settings", "check_deploy"},
    "django_bff.checks.messages": {"to_messages"},
    "django_bff.checks.values": {"check_values"},
    "django_bff.checks.storage": {"check_token_storage"},
    "django_bff.checks.caches": {"check_caches"},
    "django_bff.checks.oidc": {"check_oidc_client"},
    "django_bff.checks.security": {"check_security"},
    "django_bff.checks.routes": {"check_routes"},
    "django_bff.checks.clients": {"check_clients"},
    "django_bff.checks.sessions": {"check_sessions"},
    "django_bff.checks.deploy": {"check_deploy"},
    "django_bff.retrievers": {
        "AccessTokenRetriever",
        "DefaultAccessTokenRetriever",
        "AccessTokenRetrievalContext",
        "BearerTokenResult",
        "DPoPTokenResult",
        "NoAccessTokenResult",
        "AccessTokenRetrievalError",
        "TokenExchangeAccessTokenRetriever",
    },
    "django_bff.proxy": {
        "remote_api",
        "RemoteAPIView",
        "get_proxy_pool",
        "build_upstream_url",
        "check_antiforgery",
        "check_csrf_header",
        "settings_routes",
        "UpstreamInvalidResponse",
        *HEADER_POLICY,
    },
    "django_bff.proxy.view": {"remote_api", "RemoteAPIView", "settings_routes"},
    "django_bff.proxy.routes": {"RemoteAPIRoute", "parse_remote_apis"},
    "django_bff.proxy.paths": {"build_upstream_url"},
    "django_bff.proxy.headers": HEADER_POLICY,
    "django_bff.proxy.transport": {"get_proxy_pool"},
    "django_bff.antiforgery": {"check_antiforgery", "check_csrf_header"},
    "django_bff.decorators": {"bff_api"},
    "django_bff.drf": {"BFFAPIPermission"},
    "django_bff.responses": set(),
    "django_bff.dpop": set(),
    "django_bff.clients": {"ClientConfig", "get_client", "parse_clients"},
    "django_bff.assertions": {"ClientAssertionService", "PrivateKeyJwtAssertionService"},
    "django_bff.asgi": {"RequestBodyLimitMiddleware"},
    "django_bff.logfilters": {"QueryStringFilter", "install"},
    "django_bff.views": {"LoginView", "LogoutView", "UserView", "BackchannelLogoutView", "OIDCCallbackView"},
    "django_bff.clock": {"clock"},
    "django_bff.telemetry": {"configure", "record", "observe", "span"},
    "django_bff.faults": {"is_storage_error", "strict_session_store"},
    "django_bff.sessions": {
        "SessionInfo",
        "SessionIndex",
        "DatabaseSessionIndex",
        "CacheSessionIndex",
        "list_sessions",
        "end_sessions",
        "cleanup_sessions",
    },
    "django_bff.session_index": {
        "SessionInfo",
        "SessionIndex",
        "DatabaseSessionIndex",
        "CacheSessionIndex",
        "get_session_index",
    },
    "django_bff.middleware": {"SessionMiddleware", "dont_slide"},
    "django_bff.logout_tokens": {"validate_logout_token"},
    "django_bff.models": {"UserSession"},
}
#: Modules without a public surface of their own.
PRIVATE = {"django_bff.apps", "django_bff.urls"}
#: Packages in Django's own layouts, holding no public names.
DJANGO_LAYOUTS = {"django_bff.management", "django_bff.migrations"}


def test_every_module_is_listed() -> None:
    import pkgutil

    found = set()
    for m in pkgutil.iter_modules(django_bff.__path__, "django_bff."):
        if m.name in DJANGO_LAYOUTS:
            continue
        found.add(m.name)
        if m.ispkg:  # a module grown into a package: the package and each of its modules
            package = importlib.import_module(m.name)
            found |= {s.name for s in pkgutil.iter_modules(package.__path__, f"{m.name}.")}
    assert found - PRIVATE == set(PUBLIC)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_all_lists_exactly_what_the_module_exports(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert PUBLIC[name] <= exported
    for member in exported:
        assert hasattr(module, member), f"{name}.__all__ names a missing {member}"
    defined_public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == name and (isinstance(v, type) or callable(v))
    }
    assert defined_public <= exported | {"receiver"}, (
        f"{name} defines public names missing from __all__: {defined_public - exported}"
    )


def test_package_root_holds_only_the_version() -> None:
    import subprocess
    import sys

    # A fresh interpreter: importing django_bff must not import Django.
    code = "import sys, django_bff; print(django_bff.__version__); print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [django_bff.__version__, "False"]
    assert [n for n in vars(django_bff) if not n.startswith("__")] == [] or all(
        isinstance(getattr(django_bff, n), type(django_bff)) for n in vars(django_bff) if not n.startswith("__")
    )
