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

#: Every module's whole ``__all__``: the package's public surface, written down. A change to
#: a module's ``__all__`` is a change here too, made on purpose.
PUBLIC = {
    "django_bff.antiforgery": {"check_antiforgery", "check_csrf_header"},
    "django_bff.asgi": {"BFFApplication", "RequestBodyLimitMiddleware"},
    "django_bff.asgi.application": {"BFFApplication"},
    "django_bff.asgi.body_limit": {"RequestBodyLimitMiddleware"},
    "django_bff.asgi.handshake": {"Refused", "Handshake", "check_handshake"},
    "django_bff.asgi.websocket": {"proxy_websocket", "session_ended"},
    "django_bff.assertions": {
        "ClientAssertion",
        "ClientAssertionService",
        "JWT_BEARER",
        "PrivateKeyJwtAssertionService",
        "build_assertion_service",
        "get_assertion_service",
    },
    "django_bff.auth": {"BFFAuthenticationBackend", "PENDING_TOKEN_ATTR"},
    "django_bff.backchannel": {
        "BackchannelResponse",
        "BackchannelSession",
        "clear_caches",
        "default_session",
        "fetch",
        "get_backchannel_session",
        "get_discovery_document",
        "get_endpoint",
        "get_signing_key",
        "note_missing_endpoint",
    },
    "django_bff.backchannel.session": {
        "default_session",
        "BackchannelSession",
        "BackchannelResponse",
        "fetch",
        "get_backchannel_session",
        "forget_session",
    },
    "django_bff.backchannel.discovery": {
        "get_discovery_document",
        "get_signing_key",
        "get_endpoint",
        "note_missing_endpoint",
        "clear_caches",
    },
    "django_bff.checks": {"CONCERNS", "check_deploy", "check_settings", "register"},
    "django_bff.checks.caches": {"check_caches"},
    "django_bff.checks.clients": {"check_clients"},
    "django_bff.checks.deploy": {"check_deploy"},
    "django_bff.checks.messages": {"TAG", "bff_dict", "to_messages"},
    "django_bff.checks.oidc": {"check_oidc_client"},
    "django_bff.checks.routes": {"check_routes"},
    "django_bff.checks.security": {"check_security"},
    "django_bff.checks.sessions": {"check_sessions", "no_end_session_endpoint", "no_revocation_endpoint"},
    "django_bff.checks.storage": {"check_token_storage", "made_store"},
    "django_bff.checks.values": {"check_values"},
    "django_bff.clients": {
        "AUTH_METHODS",
        "CLIENT_KEYS",
        "ClientConfig",
        "SECRET_METHODS",
        "client_names",
        "dpop_options",
        "get_client",
        "parse_clients",
    },
    "django_bff.clock": {"Clock", "clock"},
    "django_bff.codecs": {
        "decode_client_token",
        "decode_user_token",
        "encode_client_token",
        "encode_user_token",
        "record_token",
        "record_tokens",
        "valid_record",
        "with_token",
    },
    "django_bff.conf": {
        "BFFSettings",
        "DEFAULTS",
        "IMPORT_STRINGS",
        "InvalidSetting",
        "REMOVED_SETTINGS",
        "bff_settings",
        "load_backend",
        "on_reload",
        "per_settings",
        "per_settings_closing",
        "stop_threads",
    },
    "django_bff.conf.built": {
        "PerSettings",
        "on_reload",
        "per_settings",
        "per_settings_closing",
        "reset_all",
        "stop_threads",
    },
    "django_bff.conf.declared": {
        "Antiforgery",
        "BFFSettings",
        "DEFAULTS",
        "GROUPS",
        "IMPORT_STRINGS",
        "LOGOUT_ALGORITHMS",
        "NamedClients",
        "Proxy",
        "REMOVED_SETTINGS",
        "RemoteAPIRoutes",
        "SETTINGS",
        "SessionEndpoints",
        "TokenLifetime",
        "TokenService",
        "TokenStorage",
        "settings_of",
    },
    "django_bff.conf.http_groups": {
        "Antiforgery",
        "LOGOUT_ALGORITHMS",
        "NamedClients",
        "Proxy",
        "RemoteAPIRoutes",
        "SessionEndpoints",
    },
    "django_bff.conf.kinds": {
        "Algorithms",
        "CacheAlias",
        "Choice",
        "Flag",
        "Integer",
        "NameList",
        "Number",
        "OptionalFlag",
        "OptionalInteger",
        "OptionalNameList",
        "Origins",
        "RelativePath",
        "Text",
        "Url",
        "is_http_url",
    },
    "django_bff.conf.loading": {"import_object", "load_callable", "load_class", "make_backend"},
    "django_bff.conf.problems": {"InvalidSetting", "Parsed", "Problem"},
    "django_bff.conf.references": {
        "Backend",
        "ClientCert",
        "DictSetting",
        "DPOP_ALGORITHMS",
        "DPoPOptions",
        "DPoPSetting",
        "FernetKeys",
        "ImportString",
        "ListSetting",
        "OptionalService",
        "TLSVerify",
    },
    "django_bff.conf.setting": {"Options", "Setting", "SettingsHolder"},
    "django_bff.conf.token_groups": {"TokenLifetime", "TokenService", "TokenStorage"},
    "django_bff.crypto": {"InvalidToken", "decrypt", "derive_key", "encrypt", "get_fernet"},
    "django_bff.decorators": {"bff_api"},
    "django_bff.dpop": {"jwk_thumbprint", "make_proof", "wants_nonce", "KEY_ALGORITHMS", "new_key", "public_jwk"},
    "django_bff.dpop_nonces": {
        "NONCE_LIFETIME",
        "issuer_scope",
        "nonce_for",
        "anonce_for",
        "origin_scope",
        "remember_nonce",
        "aremember_nonce",
    },
    "django_bff.drf": {"AntiforgeryFailed", "BFFAPIPermission", "BFFSessionAuthentication", "NotAuthenticated"},
    "django_bff.exceptions": {
        "AccessTokenUnavailable",
        "AntiforgeryRequired",
        "BFFError",
        "BFFImproperlyConfigured",
        "BFFRequestError",
        "CsrfFailed",
        "InvalidContentLength",
        "InvalidLogoutToken",
        "InvalidProxyPath",
        "InvalidTokenStore",
        "LengthRequired",
        "ProxyError",
        "RequestBodyTooLarge",
        "StorageUnavailable",
        "TokenRequestRejected",
        "TokenServiceError",
        "TokenServiceUnavailable",
        "TokenStoreConflict",
        "TokenStoreError",
        "UpstreamError",
        "UpstreamInvalidResponse",
        "UpstreamTimeout",
        "UpstreamUnavailable",
    },
    "django_bff.faults": {"is_storage_error", "storage_unavailable", "strict_session_store"},
    "django_bff.handoff": {
        "CALLBACK_ATTR",
        "LOGIN_REFUSAL_ATTR",
        "PENDING_TOKEN_ATTR",
        "deliver_pending_tokens",
        "hand_over",
        "keep_login_key",
        "login_key",
        "take_login_key",
        "session_identity_token",
        "unverified_claims",
    },
    "django_bff.http": {"ClientAccessTokenAuth", "RenewingTokenAuth", "UserAccessTokenAuth"},
    "django_bff.locks": {"CacheLock", "Polling", "Waited"},
    "django_bff.logfilters": {"LOGGERS", "QueryStringFilter", "install"},
    "django_bff.logout_tokens": {"BACKCHANNEL_LOGOUT_EVENT", "forget_jti", "remember_jti", "validate_logout_token"},
    "django_bff.middleware": {"SessionMiddleware", "dont_slide", "is_bff_endpoint", "will_slide"},
    "django_bff.models": {"UserSession"},
    "django_bff.oauth": {"revoke", "token_request"},
    "django_bff.proxy": {
        "RemoteAPIView",
        "UpstreamInvalidResponse",
        "build_upstream_url",
        "check_antiforgery",
        "check_csrf_header",
        "get_proxy_pool",
        "remote_api",
        "settings_routes",
        *HEADER_POLICY,
    },
    "django_bff.proxy.async_transport": {
        "get_async_proxy_client",
        "aclose_async_proxy_client",
        "AsyncAnswer",
        "asend",
        "aread_body",
        "response_chunks",
    },
    "django_bff.proxy.async_view": {"ProxyView", "adispatch"},
    "django_bff.proxy.calls": {"call_flow", "traced_flow"},
    "django_bff.proxy.dpop": {"call_with_proof", "proof_flow", "Sender", "ThreadSender"},
    "django_bff.proxy.headers": HEADER_POLICY | {"token_headers", "UpstreamAnswer"},
    "django_bff.proxy.paths": {"build_upstream_url"},
    "django_bff.proxy.routes": {"ROUTE_KEYS", "RemoteAPIRoute", "parse_remote_apis"},
    "django_bff.proxy.transport": {"get_proxy_pool", "failed_call"},
    "django_bff.proxy.view": {"RemoteAPIView", "remote_api", "settings_routes"},
    "django_bff.receivers": {"SESSION_ID_TOKEN_KEY", "SESSION_SID_KEY", "deliver_pending_tokens"},
    "django_bff.responses": {"error_response", "no_store", "response_for"},
    "django_bff.retrievers": {
        "ACCESS_TOKEN_TYPE",
        "AccessTokenResult",
        "AccessTokenRetrievalContext",
        "AccessTokenRetrievalError",
        "AccessTokenRetriever",
        "BearerTokenResult",
        "DPoPTokenResult",
        "DefaultAccessTokenRetriever",
        "NoAccessTokenResult",
        "PatternRetriever",
        "TOKEN_EXCHANGE_GRANT",
        "TokenExchangeAccessTokenRetriever",
        "parse_access_token_retrievers",
        "pattern_retrievers",
        "resolve_retriever_class",
        "result_from_token",
        "retriever_class_for",
    },
    "django_bff.session_index": {
        "CacheSessionIndex",
        "DatabaseSessionIndex",
        "GRACE",
        "SessionIndex",
        "SessionInfo",
        "get_session_index",
    },
    "django_bff.session_keys": {
        "OIDC_ID_TOKEN_EXPIRATION_KEY",
        "OIDC_LOGIN_NEXT_KEY",
        "OIDC_STATES_KEY",
        "OIDC_STATE_RETURN_URL_FIELD",
        "RECORD_FIELD",
        "SESSION_DPOP_LOGIN_KEYS",
        "SESSION_EXPIRES_KEY",
        "SESSION_ID_TOKEN_KEY",
        "SESSION_INDEXED_KEY",
        "SESSION_RECORD_KEY",
        "SESSION_REF_KEY",
        "SESSION_SID_KEY",
        "SESSION_SUB_KEY",
        "SESSION_USER_INDEXED_KEY",
    },
    "django_bff.sessions": {
        "CacheSessionIndex",
        "DatabaseSessionIndex",
        "SESSION_EXPIRES_KEY",
        "SESSION_INDEXED_KEY",
        "SESSION_SID_KEY",
        "SESSION_SUB_KEY",
        "SESSION_USER_INDEXED_KEY",
        "SessionIndex",
        "SessionInfo",
        "asession_login",
        "cleanup_sessions",
        "cycle_session_key",
        "end_sessions",
        "end_user_sessions",
        "forget_session",
        "get_session_index",
        "list_sessions",
        "note_session_saved",
        "record_session",
        "session_expires_at",
        "session_login",
    },
    "django_bff.signals": {"token_refresh_failed", "token_refreshed", "token_response_received"},
    "django_bff.stores": {
        "CacheTokenStore",
        "CookieTokenStore",
        "RecordTokenStore",
        "SessionTokenStore",
        "UserTokenStore",
        "get_token_store",
    },
    "django_bff.stores.base": {"UserTokenStore", "resource_key"},
    "django_bff.stores.cache": {"CacheTokenStore"},
    "django_bff.stores.record": {"RecordTokenStore"},
    "django_bff.stores.session": {"CookieTokenStore", "SessionTokenStore"},
    "django_bff.telemetry": {
        "ENABLED",
        "configure",
        "inject",
        "observe",
        "record",
        "server_attributes",
        "span",
        "status_class",
        "without_query",
    },
    "django_bff.testing": {"UserTokenStoreContract", "sample_token"},
    "django_bff.token_manager": {
        "aget_client_access_token",
        "aget_user_access_token",
        "arevoke_refresh_token",
        "forget_session_tokens",
        "get_client_access_token",
        "get_user_access_token",
        "revoke_refresh_token",
    },
    "django_bff.token_manager.client": {
        "client_cache_key",
        "client_token_flow",
        "exchange_cache_key",
        "exchange_token",
    },
    "django_bff.token_manager.flow": {
        "Call",
        "Flow",
        "Op",
        "Wait",
        "call",
        "network",
        "run_async",
        "run_sync",
        "storage_guarded",
    },
    "django_bff.token_manager.single_flight": {
        "CachedTokenRequest",
        "TOKEN_POLLING",
        "cached_token_flow",
        "fresh_enough",
        "joined",
        "needs_refresh",
        "take_lock",
    },
    "django_bff.token_manager.user": {
        "Refresh",
        "SESSION_TOKEN",
        "SessionMemory",
        "in_doubt_for",
        "in_doubt_key",
        "lock_key",
        "mark_in_doubt",
        "refresh_flow",
        "revoke_flow",
        "stored_token_flow",
    },
    "django_bff.token_memory": {"forget_all", "forget_session_tokens", "memory_key", "recall", "remember"},
    "django_bff.tokens": {
        "ClientToken",
        "TokenError",
        "TokenResult",
        "TokenType",
        "UserToken",
        "UserTokenRequestParameters",
        "expires_at_from_response",
    },
    "django_bff.views": {
        "BackchannelLogoutView",
        "DiagnosticsView",
        "LoginView",
        "LogoutView",
        "OIDCCallbackView",
        "UserView",
        "diagnostics_enabled",
        "safe_return_url",
    },
    "django_bff.views.backchannel": {"BackchannelLogoutView"},
    "django_bff.views.diagnostics": {"DiagnosticsView", "diagnostics_enabled"},
    "django_bff.views.login": {"LOGIN_ERRORS", "LoginView", "OIDCCallbackView", "safe_return_url"},
    "django_bff.views.logout": {"LogoutView"},
    "django_bff.views.user": {"UserView"},
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
    assert exported == PUBLIC[name], f"{name}.__all__ adds {exported - PUBLIC[name]}, drops {PUBLIC[name] - exported}"
    assert len(module.__all__) == len(exported), f"{name}.__all__ names a member twice"
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
