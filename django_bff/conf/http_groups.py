"""The settings of what the browser calls, declared: routes, clients, endpoints, anti-forgery and the proxy.

In the data flow: five of the groups :mod:`django_bff.conf.declared` makes
``BFFSettings`` of (each group a section of the settings page and, for the
checks, a concern): :class:`RemoteAPIRoutes`, :class:`NamedClients`,
:class:`SessionEndpoints`, :class:`Antiforgery` and :class:`Proxy`. Each
attribute is a setting, declared once with its kind. :data:`LOGOUT_ALGORITHMS`
is the one list of the JWS algorithms a back-channel logout token may use.
"""

from __future__ import annotations

from django_bff.conf.kinds import (
    Algorithms,
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
)
from django_bff.conf.references import (
    Backend,
    ClientCert,
    DictSetting,
    ListSetting,
    OptionalService,
    TLSVerify,
)

__all__ = ["RemoteAPIRoutes", "NamedClients", "SessionEndpoints", "Antiforgery", "Proxy", "LOGOUT_ALGORITHMS"]

#: The JWS algorithms a back-channel logout token may use: asymmetric only (never ``none`` or HMAC).
LOGOUT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")

_HEADER_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_ANTIFORGERY = "The anti-forgery header name or value is invalid."
_ANTIFORGERY_HINT = "ANTIFORGERY_HEADER must be a header name, ANTIFORGERY_VALUE a non-empty string."


class RemoteAPIRoutes:
    REMOTE_APIS = ListSetting(
        [],
        (
            "Remote API routes declared as data, mounted where ``django_bff.urls`` is included "
            '(``path("", include("django_bff.urls"))``).'
        ),
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
        (
            "Retrievers for the remote API routes that have none of their own, chosen by the path the "
            "browser called: the first entry whose ``PATTERN`` is found (``re.search``) in "
            "``request.path`` gives the retriever; with no match, the default retriever."
        ),
        check_id="django_bff.E020",
        see=("django_bff.E046", "django_bff.E047", "django_bff.E048"),
        type_doc='a list of dicts ``{"PATTERN": regex, "RETRIEVER": dotted path}``',
    )
    ALLOW_INSECURE_UPSTREAMS = Flag(
        False, "``True`` allows remote API targets with ``http://`` outside ``DEBUG``.", see=("django_bff.E019",)
    )


class NamedClients:
    CLIENTS = DictSetting(
        {},
        (
            "Named clients for the client-credentials grant, used by "
            ":func:`~django_bff.token_manager.get_client_access_token` and by ``CLIENT`` routes."
        ),
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
        (
            "The service that makes client assertions (RFC 7523 ``private_key_jwt``), the reference's "
            "``IClientAssertionService``."
        ),
        check_id="django_bff.E028",
        see=("django_bff.E029",),
    )


class SessionEndpoints:
    BASE_PATH = RelativePath(
        "bff/",
        (
            'Where ``include("django_bff.urls")`` mounts the BFF\'s own endpoints (:doc:`endpoints`): a '
            'relative path ending in ``/`` (or ``""``).'
        ),
        check_id="django_bff.E032",
        note='e.g. "bff/".',
    )
    ALLOWED_RETURN_ORIGINS = Origins(
        [],
        (
            'Origins (``"https://app.example.com"``) to which ``/bff/login`` may send the browser back '
            "with an absolute ``returnUrl``, for a browser app served from another origin."
        ),
        check_id="django_bff.E033",
    )
    ANONYMOUS_SESSION_RESPONSE = Choice(
        401,
        (
            'What ``/bff/user`` answers an anonymous user: 401 ``{"error": "not_authenticated"}``, or '
            "200 with the body ``null`` (Duende's ``AnonymousSessionResponse``)."
        ),
        choices=(401, 200),
        check_id="django_bff.E035",
        note="200 answers null to anonymous users.",
    )
    USER_CLAIMS = OptionalNameList(
        None,
        ("The identity-token claims ``/bff/user`` shows; ``None`` shows all but ``USER_CLAIMS_EXCLUDED``."),
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
    REVOKE_REFRESH_TOKEN_ON_LOGOUT = Flag(
        True,
        (
            "Whether ending a session revokes its refresh token at the provider (RFC 7009, best "
            "effort): ``/bff/logout``, back-channel logout, :func:`~django_bff.sessions.end_sessions` "
            "and ``manage.py bff_sessions revoke`` (Duende's ``RevokeRefreshTokenOnLogout``)."
        ),
        see=("django_bff.W020",),
    )
    LOGOUT_METHOD = Text(
        "get",
        (
            "How ``/bff/logout`` sends the browser to the provider's end-session endpoint: "
            '``"post"``, a form the page submits (``id_token_hint`` in the body, never in a URL), or '
            '``"get"``, a redirect with ``id_token_hint`` in the query string.'
        ),
        pattern=r"post|get",
        message='BFF["LOGOUT_METHOD"] must be "post" or "get".',
        hint='"post" where the provider takes a POST at its end-session endpoint, else "get".',
        check_id="django_bff.E052",
        type_doc='str, ``"post"`` or ``"get"``',
    )
    BACKCHANNEL_LOGOUT_ALGORITHMS = Algorithms(
        LOGOUT_ALGORITHMS,
        "The JWS algorithms a back-channel logout token may be signed with.",
        check_id="django_bff.E037",
    )
    BACKCHANNEL_LOGOUT_MAX_AGE = Number(300, "How old (by ``iat``) a back-channel logout token may be.", exclusive=True)
    SESSION_INDEX = Backend(
        {"BACKEND": "django_bff.sessions.DatabaseSessionIndex", "OPTIONS": {}},
        (
            "Where the server-side session index lives: "
            ":class:`~django_bff.sessions.DatabaseSessionIndex` (run ``migrate``) or "
            ":class:`~django_bff.sessions.CacheSessionIndex` (``OPTIONS``: ``CACHE``, ``KEY_PREFIX``), "
            "or a :class:`~django_bff.sessions.SessionIndex` of your own."
        ),
        check_id="django_bff.E034",
    )
    DIAGNOSTICS = OptionalFlag(
        None,
        "Whether ``/bff/diagnostics`` answers (:ref:`diagnostics-endpoint`).",
        check_id="django_bff.E039",
        see=("django_bff.E040",),
        note="None follows DEBUG.",
    )


class Antiforgery:
    ANTIFORGERY_HEADER = Text(
        "X-CSRF",
        (
            "The header every call to a remote API route, a ``@bff_api`` view or a view with "
            ":class:`~django_bff.drf.BFFAPIPermission` must carry."
        ),
        pattern=_HEADER_NAME,
        message=_ANTIFORGERY,
        hint=_ANTIFORGERY_HINT,
        check_id="django_bff.E023",
        type_doc="str, a header name",
    )
    ANTIFORGERY_VALUE = Text(
        "1",
        "The value the header must have, compared exactly.",
        pattern=r"(?s).*\S.*",
        message=_ANTIFORGERY,
        hint=_ANTIFORGERY_HINT,
        check_id="django_bff.E023",
        type_doc="a non-empty str",
    )


class Proxy:
    MAX_REQUEST_BODY = OptionalInteger(
        10 * 1024 * 1024,
        (
            "The largest request body the proxy forwards, compared with the request's "
            "``Content-Length`` before the body is read: a larger one is answered 413 "
            "``request_body_too_large`` and nothing is sent upstream (a ``Content-Length`` that is not "
            "a whole number >= 0: 400 ``invalid_content_length``)."
        ),
        unit="bytes",
        default_doc="``10485760`` (10 MiB)",
    )
    PROXY_CONNECT_TIMEOUT = Number(5.0, "How long the proxy waits for a connection to a remote API.", exclusive=True)
    PROXY_READ_TIMEOUT = Number(
        30.0,
        (
            "The longest wait for any one read from a remote API: for the answer to start (past it, 504"
            " ``upstream_timeout``) and then between two pieces of the body (past it, the answer is "
            "cut)."
        ),
        exclusive=True,
    )
    PROXY_ASYNC = Flag(
        True,
        (
            "``True``: under ASGI the proxy runs async end to end (token, session and store reads, the "
            "upstream call through a pooled ``httpx.AsyncClient``, the streamed answer), with no thread per "
            "call or per quiet stream. ``False``: the thread path, as under WSGI (a thread per call and per "
            "quiet stream). WSGI and ``ATOMIC_REQUESTS`` always take the thread path."
        ),
    )
    PROXY_POOL_SIZE = Integer(20, "Connections per remote API host kept open in each process's pool.", minimum=1)
    PROXY_VERIFY = TLSVerify(
        True, "TLS certificate verification of remote APIs.", check_id="django_bff.E024", see=("django_bff.W009",)
    )
    PROXY_CLIENT_CERT = ClientCert(
        None,
        "A TLS client certificate the proxy presents to remote APIs that require mutual TLS.",
        check_id="django_bff.E051",
    )
    PROXY_CHUNK_SIZE = Integer(
        256 * 1024,
        (
            "The largest piece the proxy reads at a time from the remote API's answer, and at least the"
            " piece it reads from the browser's request body (which it reads 512 KiB at a time when "
            "this is smaller: servers' body readers cost per call)."
        ),
        minimum=1024,
        unit="bytes",
        default_doc="``262144`` (256 KiB)",
    )
    REQUEST_BODY_TIMEOUT = Number(
        30.0,
        (
            "Under ASGI, with :class:`~django_bff.asgi.RequestBodyLimitMiddleware`: the longest wait "
            "for the next piece of a request body."
        ),
        exclusive=True,
    )
    DPOP_REPLAY_MAX_BODY = Integer(
        64 * 1024,
        (
            "The largest request body the proxy keeps in memory so that it can send a DPoP call once "
            "more when the remote API asks for a new nonce."
        ),
        unit="bytes",
        default_doc="``65536`` (64 KiB)",
    )
    WEBSOCKET_ALLOWED_ORIGINS = Origins(
        [],
        (
            "Origins, besides the request's own scheme and host, whose pages may open a WebSocket through "
            "a ``ws://`` or ``wss://`` route (:class:`~django_bff.asgi.BFFApplication`)."
        ),
        check_id="django_bff.E060",
    )
    WEBSOCKET_MAX_MESSAGE = Integer(
        1024 * 1024,
        (
            "The largest WebSocket message the proxy relays, either way: a larger one closes both "
            "sockets with 1009 (message too big)."
        ),
        minimum=1,
        unit="bytes",
        default_doc="``1048576`` (1 MiB)",
    )
    WEBSOCKET_SESSION_CHECK_INTERVAL = Number(
        10.0,
        (
            "How often a WebSocket opened by a logged-in session reads the session again: once the "
            "session holds no login, the socket is closed with 1008 ``session_ended``."
        ),
        exclusive=True,
    )
