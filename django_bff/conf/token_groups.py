"""The settings of tokens, declared: their storage, their lifetime and the token service's calls.

In the data flow: three of the groups :mod:`django_bff.conf.declared` makes
``BFFSettings`` of (each group a section of the settings page and, for the
checks, a concern): :class:`TokenStorage`, :class:`TokenLifetime` and
:class:`TokenService`. Each attribute is a setting, declared once with its
kind (:mod:`django_bff.conf.kinds`, :mod:`django_bff.conf.references`).
"""

from __future__ import annotations

from django_bff.conf.kinds import (
    CacheAlias,
    Flag,
    Integer,
    Number,
    Url,
)
from django_bff.conf.references import (
    Backend,
    ClientCert,
    DPoPSetting,
    FernetKeys,
    ImportString,
    TLSVerify,
)

__all__ = ["TokenStorage", "TokenLifetime", "TokenService"]


class TokenStorage:
    USER_TOKEN_STORE = Backend(
        {"BACKEND": "django_bff.stores.SessionTokenStore", "OPTIONS": {}},
        "Where the user tokens are kept, written like Django's ``STORAGES``.",
        check_id="django_bff.E004",
        see=("django_bff.E014", "django_bff.W001", "django_bff.E009"),
    )
    SAVE_TOKENS = Flag(
        True, "``True``: after a login, the tokens from the provider's answer go to the configured store."
    )
    ENCRYPT_TOKENS = Flag(True, "Encrypt tokens at rest with Fernet.", see=("django_bff.E009",))
    TOKEN_ENCRYPTION_KEYS = FernetKeys(None, "The keys that encrypt tokens at rest.")


class TokenLifetime:
    REFRESH_BEFORE_EXPIRATION = Number(
        60, "A stored access token is refreshed when it expires within this many seconds."
    )
    CACHE = CacheAlias(
        "default",
        (
            "The cache that holds the refresh locks (one per session's refresh token) and the short "
            "write locks of :class:`~django_bff.stores.SessionTokenStore`; also the default cache of "
            ":class:`~django_bff.stores.CacheTokenStore`."
        ),
        see=("django_bff.E013", "django_bff.W005", "django_bff.W017"),
    )
    REFRESH_LOCK_TIMEOUT = Number(
        30.0,
        ("How long a refresh lock lives in the cache if its holder never releases it (a crashed worker)."),
        exclusive=True,
        see=("django_bff.W004",),
    )
    REFRESH_LOCK_WAIT = Number(
        20.0,
        (
            "How long a request waits for another worker's refresh of the same session (of any of its "
            "tokens: they share one refresh token) before it gives up with the transient error "
            "``refresh_lock_timeout``."
        ),
        exclusive=True,
    )
    TOKEN_MEMORY_TTL = Number(
        10.0,
        (
            "How long a worker keeps a user token that needs no refresh in its memory (decrypted, per "
            "session key and resource, at most 10,000 of them), so that a proxied call reads the "
            "session only, not the token store."
        ),
    )
    RETRY_AFTER = Integer(
        5,
        (
            "The ``retry_after`` given with a transient error when the provider did not say (no usable "
            "``Retry-After`` header, or no answer at all), and with ``refresh_lock_timeout``."
        ),
        minimum=1,
        unit="seconds",
    )


class TokenService:
    BACKCHANNEL_SESSION = ImportString(
        "django_bff.backchannel.default_session",
        (
            "The session used for every call to the token service: code exchange, refresh, client "
            "credentials, revocation, userinfo, discovery and JWKS (and the calls your own code makes "
            "with :func:`django_bff.oauth.token_request`)."
        ),
        type_doc="a dotted path to a callable (or the callable itself) that takes no arguments and returns a "
        ":class:`requests.Session`",
    )
    BACKCHANNEL_CONNECT_TIMEOUT = Number(
        5.0,
        "Connect timeout of :func:`~django_bff.backchannel.default_session`.",
        exclusive=True,
        see=("django_bff.W004",),
    )
    BACKCHANNEL_READ_TIMEOUT = Number(
        10.0,
        (
            "Read timeout of :func:`~django_bff.backchannel.default_session`: the longest wait for each"
            " read from the provider's socket."
        ),
        exclusive=True,
        see=("django_bff.W004",),
    )
    BACKCHANNEL_POOL_SIZE = Integer(
        10, "Connections per host kept in the pool of :func:`~django_bff.backchannel.default_session`.", minimum=1
    )
    BACKCHANNEL_VERIFY = TLSVerify(
        True,
        ("TLS certificate verification of :func:`~django_bff.backchannel.default_session` (``requests``' ``verify``)."),
        check_id="django_bff.E016",
        see=("django_bff.W007",),
    )
    BACKCHANNEL_CLIENT_CERT = ClientCert(
        None,
        (
            "The TLS client certificate of :func:`~django_bff.backchannel.default_session`, for mutual "
            'TLS with the token service: clients with ``"AUTH_METHOD": "tls_client_auth"`` (RFC 8705) '
            "are authenticated by it."
        ),
        check_id="django_bff.E030",
        see=("django_bff.E031",),
    )
    BACKCHANNEL_MAX_RESPONSE_SIZE = Integer(
        1024 * 1024,
        ("The largest answer taken from the token service (token, revocation, discovery, JWKS and userinfo answers)."),
        minimum=1024,
        unit="bytes",
        default_doc="``1048576`` (1 MiB)",
    )
    MAX_TOKEN_SIZE = Integer(
        32 * 1024,
        "The longest access, refresh or identity token accepted from the token service.",
        minimum=256,
        unit="characters",
    )
    AUTHORITY = Url(
        None,
        "The provider's issuer URL.",
        see=("django_bff.E010", "django_bff.E017", "django_bff.W016", "django_bff.W020", "django_bff.W021"),
    )
    REVOCATION_ENDPOINT = Url(
        None,
        ("The RFC 7009 revocation endpoint used by :func:`~django_bff.token_manager.revoke_refresh_token`."),
        see=("django_bff.W020",),
    )
    DISCOVERY_CACHE_TTL = Number(3600, "How long a process keeps the discovery document.")
    JWKS_CACHE_TTL = Number(3600, "How long a process keeps the provider's signing keys (JWKS).")
    JWKS_MIN_REFETCH_INTERVAL = Number(
        30,
        (
            "An identity token signed with a key id (``kid``) that is not in the cached JWKS makes "
            "django_bff fetch the JWKS again, so a provider's key rotation is picked up at once, but at"
            " most once per this many seconds per JWKS URL, so that tokens with made-up key ids cannot "
            "make it hammer the provider."
        ),
    )
    DPOP = DPoPSetting(
        False,
        (
            "DPoP (RFC 9449) for the OIDC client: every token request carries a proof, and the tokens it "
            "gets are bound to a key of the session's (to a key of the client's for client credentials)."
        ),
        see=("django_bff.E054", "django_bff.E055"),
    )
