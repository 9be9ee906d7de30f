"""Every setting of ``settings.BFF``, declared once: name, default, type, validation, check id, doc line.

In the data flow: this is where a setting starts. :class:`BFFSettings`, whose
instance every module reads as ``bff_settings``, is made of the groups below;
each attribute is a kind of :class:`~django_bff.conf.setting.Setting`, so
``bff_settings.RETRY_AFTER`` is an ``int`` to mypy and validated when read.
:data:`DEFAULTS`, the system checks of each group (:mod:`django_bff.checks`,
one concern per group) and ``docs/settings.rst`` (written by
``docs/settings_page.py``, checked by ``tests/test_docs.py``) all come from
these declarations. A group's title is its section in the settings page.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings

from django_bff.conf.kinds import (
    Algorithms,
    CacheAlias,
    Choice,
    Flag,
    Integer,
    NameList,
    Number,
    OptionalFlag,
    OptionalInteger,
    OptionalNameList,
    Origins,
    RelativePath,
    Text,
    Url,
)
from django_bff.conf.references import (
    Backend,
    ClientCert,
    DictSetting,
    FernetKeys,
    ImportString,
    ListSetting,
    OptionalService,
    TLSVerify,
)
from django_bff.conf.setting import Setting

__all__ = [
    "BFFSettings",
    "GROUPS",
    "SETTINGS",
    "DEFAULTS",
    "IMPORT_STRINGS",
    "REMOVED_SETTINGS",
    "LOGOUT_ALGORITHMS",
    "settings_of",
    "TokenStorage",
    "TokenLifetime",
    "TokenService",
    "RemoteAPIRoutes",
    "NamedClients",
    "SessionEndpoints",
    "Antiforgery",
    "Proxy",
]

#: The JWS algorithms a back-channel logout token may use: asymmetric only (never ``none`` or HMAC).
LOGOUT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")

_HEADER_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_ANTIFORGERY = "The anti-forgery header name or value is invalid."
_ANTIFORGERY_HINT = "ANTIFORGERY_HEADER must be a header name, ANTIFORGERY_VALUE a non-empty string."


class TokenStorage:
    USER_TOKEN_STORE = Backend(
        {"BACKEND": "django_bff.stores.SessionTokenStore", "OPTIONS": {}},
        "Where the user tokens are kept, written like Django's ``STORAGES``.",
        check_id="django_bff.E004",
        see=("django_bff.E014", "django_bff.W001", "django_bff.E009"),
    )
    SAVE_TOKENS = Flag(True, "Whether a login's tokens go to the store; the signal is sent either way.")
    ENCRYPT_TOKENS = Flag(True, "Encrypt tokens at rest with Fernet.", see=("django_bff.E009",))
    TOKEN_ENCRYPTION_KEYS = FernetKeys(None, "The keys that encrypt tokens at rest.")


class TokenLifetime:
    REFRESH_BEFORE_EXPIRATION = Number(60, "How long before it expires a stored access token is refreshed.")
    CACHE = CacheAlias(
        "default",
        "The cache that holds the refresh locks, shared by every process.",
        see=("django_bff.E013", "django_bff.W005", "django_bff.W017"),
    )
    REFRESH_LOCK_TIMEOUT = Number(
        30.0,
        "How long a refresh lock lives if its holder never releases it.",
        exclusive=True,
        see=("django_bff.W004",),
    )
    REFRESH_LOCK_WAIT = Number(
        20.0, "How long a request waits for another worker's refresh of the same session.", exclusive=True
    )
    TOKEN_MEMORY_TTL = Number(10.0, "How long a worker keeps a token that needs no refresh in its memory.")
    RETRY_AFTER = Integer(
        5, "The ``Retry-After`` of a transient error when the provider gave none.", minimum=1, unit="seconds"
    )


class TokenService:
    BACKCHANNEL_SESSION = ImportString(
        "django_bff.backchannel.default_session",
        "What makes the session of every call to the token service.",
        type_doc="a dotted path to a callable (or the callable itself) that takes no arguments and returns a "
        ":class:`requests.Session`",
    )
    BACKCHANNEL_CONNECT_TIMEOUT = Number(
        5.0, "Connect timeout of the token service's calls.", exclusive=True, see=("django_bff.W004",)
    )
    BACKCHANNEL_READ_TIMEOUT = Number(
        10.0, "Read timeout of the token service's calls.", exclusive=True, see=("django_bff.W004",)
    )
    BACKCHANNEL_POOL_SIZE = Integer(10, "Connections per host kept in the back-channel session's pool.", minimum=1)
    BACKCHANNEL_VERIFY = TLSVerify(
        True,
        "TLS certificate verification of the token service.",
        check_id="django_bff.E016",
        see=("django_bff.W007",),
    )
    BACKCHANNEL_CLIENT_CERT = ClientCert(
        None,
        "The TLS client certificate presented to the token service.",
        check_id="django_bff.E030",
        see=("django_bff.E031",),
    )
    BACKCHANNEL_MAX_RESPONSE_SIZE = Integer(
        1024 * 1024,
        "The largest answer taken from the token service.",
        minimum=1024,
        unit="bytes",
        default_doc="``1048576`` (1 MiB)",
    )
    MAX_TOKEN_SIZE = Integer(
        32 * 1024, "The longest token accepted from the token service.", minimum=256, unit="characters"
    )
    AUTHORITY = Url(
        None,
        "The provider's issuer URL.",
        see=("django_bff.E010", "django_bff.E017", "django_bff.W016"),
    )
    REVOCATION_ENDPOINT = Url(None, "The RFC 7009 revocation endpoint.")
    DISCOVERY_CACHE_TTL = Number(3600, "How long a process keeps the discovery document.")
    JWKS_CACHE_TTL = Number(3600, "How long a process keeps the provider's signing keys (JWKS).")
    JWKS_MIN_REFETCH_INTERVAL = Number(30, "The least time between two fetches of a JWKS for an unknown key.")


class RemoteAPIRoutes:
    REMOTE_APIS = ListSetting(
        [],
        "Remote API routes declared as data, read when the URLconf is imported.",
        check_id="django_bff.E018",
        see=(
            "django_bff.E041",
            "django_bff.E042",
            "django_bff.E043",
            "django_bff.E044",
            "django_bff.E045",
            "django_bff.E019",
            "django_bff.E021",
            "django_bff.E022",
            "django_bff.E038",
        ),
        type_doc="a list of dicts",
    )
    ACCESS_TOKEN_RETRIEVERS = ListSetting(
        [],
        "Retrievers chosen by the path called, for the routes that have none of their own.",
        check_id="django_bff.E020",
        see=("django_bff.E046", "django_bff.E047", "django_bff.E048"),
        type_doc='a list of dicts ``{"PATTERN": regex, "RETRIEVER": dotted path}``',
    )
    ALLOW_INSECURE_UPSTREAMS = Flag(
        False, "``True`` allows ``http://`` remote API targets outside ``DEBUG``.", see=("django_bff.E019",)
    )


class NamedClients:
    CLIENTS = DictSetting(
        {},
        "Named clients for the client-credentials grant.",
        check_id="django_bff.E025",
        see=(
            "django_bff.E049",
            "django_bff.E026",
            "django_bff.E027",
            "django_bff.E050",
            "django_bff.E029",
            "django_bff.E031",
            "django_bff.E022",
        ),
        type_doc="dict of dicts",
    )
    CLIENT_ASSERTION_SERVICE = OptionalService(
        None,
        "The service that makes client assertions (``private_key_jwt``).",
        check_id="django_bff.E028",
        see=("django_bff.E029",),
    )


class SessionEndpoints:
    BASE_PATH = RelativePath(
        "bff/",
        "Where the BFF's own endpoints are mounted, read when the URLconf is imported.",
        check_id="django_bff.E032",
        note='e.g. "bff/".',
    )
    ALLOWED_RETURN_ORIGINS = Origins(
        [], "Origins to which ``/bff/login`` may send the browser back.", check_id="django_bff.E033"
    )
    ANONYMOUS_SESSION_RESPONSE = Choice(
        401,
        "What ``/bff/user`` answers an anonymous user.",
        choices=(401, 200),
        check_id="django_bff.E035",
        note="200 answers null to anonymous users.",
    )
    USER_CLAIMS = OptionalNameList(
        None,
        "The identity-token claims ``/bff/user`` shows.",
        check_id="django_bff.E036",
        note="None shows every claim.",
    )
    USER_CLAIMS_EXCLUDED = NameList(
        [
            "aud",
            "azp",
            "acr",
            "amr",
            "at_hash",
            "c_hash",
            "exp",
            "iat",
            "iss",
            "jti",
            "nbf",
            "nonce",
            "s_hash",
            "sid",
            "auth_time",
        ],
        "Claims ``/bff/user`` never shows.",
        check_id="django_bff.E036",
        default_doc="the protocol claims: ``aud``, ``azp``, ``acr``, ``amr``, ``at_hash``, ``c_hash``, ``exp``, "
        "``iat``, ``iss``, ``jti``, ``nbf``, ``nonce``, ``s_hash``, ``sid``, ``auth_time``",
    )
    REVOKE_REFRESH_TOKEN_ON_LOGOUT = Flag(True, "Whether ending a session revokes its refresh token.")
    BACKCHANNEL_LOGOUT_ALGORITHMS = Algorithms(
        LOGOUT_ALGORITHMS,
        "The JWS algorithms a back-channel logout token may be signed with.",
        check_id="django_bff.E037",
    )
    BACKCHANNEL_LOGOUT_MAX_AGE = Number(300, "How old (by ``iat``) a back-channel logout token may be.", exclusive=True)
    SESSION_INDEX = Backend(
        {"BACKEND": "django_bff.sessions.DatabaseSessionIndex", "OPTIONS": {}},
        "Where the server-side session index lives.",
        check_id="django_bff.E034",
    )
    DIAGNOSTICS = OptionalFlag(
        None,
        "Whether ``/bff/diagnostics`` answers.",
        check_id="django_bff.E039",
        see=("django_bff.E040",),
        note="None follows DEBUG.",
    )


class Antiforgery:
    ANTIFORGERY_HEADER = Text(
        "X-CSRF",
        "The header every call to a BFF API endpoint must carry.",
        pattern=_HEADER_NAME,
        message=_ANTIFORGERY,
        hint=_ANTIFORGERY_HINT,
        check_id="django_bff.E023",
        type_doc="str, a header name",
    )
    ANTIFORGERY_VALUE = Text(
        "1",
        "The value the anti-forgery header must have, compared exactly.",
        pattern=r"(?s).*\S.*",
        message=_ANTIFORGERY,
        hint=_ANTIFORGERY_HINT,
        check_id="django_bff.E023",
        type_doc="a non-empty str",
    )


class Proxy:
    MAX_REQUEST_BODY = OptionalInteger(
        10 * 1024 * 1024,
        "The largest request body the proxy forwards.",
        unit="bytes",
        default_doc="``10485760`` (10 MiB)",
    )
    PROXY_CONNECT_TIMEOUT = Number(5.0, "How long the proxy waits for a connection to a remote API.", exclusive=True)
    PROXY_READ_TIMEOUT = Number(30.0, "The longest wait for any one read from a remote API.", exclusive=True)
    PROXY_POOL_SIZE = Integer(20, "Connections per remote API host kept open in each process's pool.", minimum=1)
    PROXY_VERIFY = TLSVerify(
        True, "TLS certificate verification of remote APIs.", check_id="django_bff.E024", see=("django_bff.W009",)
    )
    PROXY_CLIENT_CERT = ClientCert(
        None, "A TLS client certificate the proxy presents to remote APIs.", check_id="django_bff.E051"
    )
    PROXY_CHUNK_SIZE = Integer(
        256 * 1024,
        "The largest piece the proxy reads at a time from a remote API's answer.",
        minimum=1024,
        unit="bytes",
        default_doc="``262144`` (256 KiB)",
    )
    REQUEST_BODY_TIMEOUT = Number(
        30.0, "Under ASGI, the longest wait for the next piece of a request body.", exclusive=True
    )


#: The groups, in the order of the settings page; each title is a section, and a concern of the checks.
GROUPS: tuple[tuple[str, type], ...] = (
    ("Token storage", TokenStorage),
    ("Token lifetime management", TokenLifetime),
    ("Token service communication", TokenService),
    ("Remote API routes", RemoteAPIRoutes),
    ("Named clients and client assertions", NamedClients),
    ("Session endpoints and sessions", SessionEndpoints),
    ("Anti-forgery header", Antiforgery),
    ("The proxy", Proxy),
)


def settings_of(group: type) -> tuple[Setting[object], ...]:
    """The settings a group declares, in order."""
    return tuple(value for value in vars(group).values() if isinstance(value, Setting))


class BFFSettings(
    TokenStorage, TokenLifetime, TokenService, RemoteAPIRoutes, NamedClients, SessionEndpoints, Antiforgery, Proxy
):
    """``settings.BFF`` over the declared defaults: ``bff_settings.NAME`` is a setting's value, typed.

    A value is read, validated and kept on first use; :meth:`reload` forgets
    them all (Django's ``setting_changed`` for ``BFF`` calls it). A value the
    system checks refuse raises :class:`~django_bff.conf.problems.InvalidSetting`
    when read. Asking for a name that is not a setting raises :class:`AttributeError`.
    """

    @property
    def user_settings(self) -> Mapping[str, object]:
        """``settings.BFF`` (empty when it is not a dict: ``django_bff.E001``)."""
        value = getattr(settings, "BFF", {})
        return value if isinstance(value, dict) else {}

    def reload(self) -> None:
        """Forget the values read: the next read sees ``settings.BFF`` as it is now."""
        vars(self).clear()

    @property
    def refresh_before_expiration(self) -> float:
        return self.REFRESH_BEFORE_EXPIRATION

    @property
    def backchannel_timeout(self) -> tuple[float, float]:
        """``(connect, read)``: the back-channel's ``requests`` timeout."""
        return (self.BACKCHANNEL_CONNECT_TIMEOUT, self.BACKCHANNEL_READ_TIMEOUT)


#: Every setting, in the order of the settings page.
SETTINGS: tuple[Setting[object], ...] = tuple(s for _, group in GROUPS for s in settings_of(group))

#: Every setting and its default value.
DEFAULTS: dict[str, object] = {s.name: s.default for s in SETTINGS}

#: Keys whose values are dotted paths, imported when read.
IMPORT_STRINGS: frozenset[str] = frozenset(s.name for s in SETTINGS if isinstance(s, ImportString))

#: Keys that existed once. Using one is the error ``django_bff.E003``, whose hint points to the changelog.
REMOVED_SETTINGS: dict[str, str] = {}
