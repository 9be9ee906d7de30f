"""``BFF["REMOTE_APIS"]`` parsed once into frozen routes, for the URLconf and the system checks alike.

In the data flow: :func:`parse_remote_apis` reads the setting's entries and
returns a :class:`~django_bff.conf.problems.Parsed` of :class:`RemoteAPIRoute`
values (the entries that are valid) and of problems, each with its check id.
The system checks (:mod:`django_bff.checks.routes`) report every problem;
``django_bff.urls``, through :func:`django_bff.proxy.view.settings_routes`,
makes a route of each valid entry and leaves the others out, so that a bad
entry is an error of ``manage.py check``, never a traceback at import. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django_bff.conf.declared import BFFSettings
from django_bff.conf.loading import load_class
from django_bff.conf.problems import Parsed, Problem
from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.proxy.headers import validate_forward_headers
from django_bff.proxy.paths import _validate_target
from django_bff.retrievers import AccessTokenRetriever
from django_bff.tokens import TokenType

__all__ = ["RemoteAPIRoute", "ROUTE_KEYS", "parse_remote_apis"]

#: The keys an entry of ``BFF["REMOTE_APIS"]`` may have.
ROUTE_KEYS = frozenset(
    {
        "PREFIX",
        "TARGET",
        "TOKEN_TYPE",
        "OPTIONAL",
        "RETRIEVER",
        "CLIENT",
        "ANTIFORGERY",
        "REQUIRE_AUTHENTICATION",
        "ALLOW_INSECURE",
        "FORWARD_HEADERS",
    }
)
_FLAGS = ("OPTIONAL", "ANTIFORGERY", "REQUIRE_AUTHENTICATION")
_HINT = 'Each entry: {"PREFIX": "api/x/", "TARGET": "https://...", ...}; see docs/proxy.'


@dataclass(frozen=True)
class RemoteAPIRoute:
    """One valid entry of ``BFF["REMOTE_APIS"]``: the arguments of :func:`~django_bff.proxy.remote_api`."""

    prefix: str
    target: str
    token_type: TokenType = TokenType.USER
    optional: bool = False
    retriever: type[AccessTokenRetriever] | None = None
    client: str = "default"
    antiforgery: bool = True
    require_authentication: bool = False
    allow_insecure: bool | None = None
    forward_headers: tuple[str, ...] | None = None


def parse_remote_apis(user: Mapping[str, object]) -> Parsed[RemoteAPIRoute]:
    """The routes of ``user["REMOTE_APIS"]`` (``settings.BFF``) that are valid, and the problems of the others.

    The routes come most specific prefix first. Every problem of every entry
    is found, not only the first.
    """
    entries = user.get("REMOTE_APIS", BFFSettings.REMOTE_APIS.default)
    if not isinstance(entries, (list, tuple)):
        return Parsed.of([], [Problem("django_bff.E018", 'BFF["REMOTE_APIS"] must be a list of dicts.', _HINT)])
    clients = user.get("CLIENTS", {})
    known_clients = {"default"} | (set(clients) if isinstance(clients, Mapping) else set())
    allow_default = BFFSettings.ALLOW_INSECURE_UPSTREAMS.value_or_default(user)
    antiforgery_header = BFFSettings.ANTIFORGERY_HEADER.value_or_default(user)
    routes: list[RemoteAPIRoute] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f'BFF["REMOTE_APIS"][{index}]'
        found = _entry_problems(entry, where, known_clients, allow_default, antiforgery_header, seen)
        problems += found
        if not found and isinstance(entry, dict):
            routes.append(_route(entry, antiforgery_header))
    routes.sort(key=lambda route: -len(route.prefix))
    return Parsed.of(routes, problems)


def _entry_problems(
    entry: object, where: str, known_clients: set[str], allow_default: bool, antiforgery_header: str, seen: set[str]
) -> list[Problem]:
    if not isinstance(entry, dict) or not {"PREFIX", "TARGET"} <= set(entry) or set(entry) - ROUTE_KEYS:
        return [Problem("django_bff.E041", f"{where} is malformed.", _HINT)]
    problems: list[Problem] = []
    prefix = entry["PREFIX"]
    if not isinstance(prefix, str) or prefix.startswith("/"):
        problems.append(Problem("django_bff.E042", f"{where}: PREFIX must be a relative path.", f"Got {prefix!r}."))
    elif prefix.rstrip("/") + "/" in seen:
        problems.append(Problem("django_bff.E043", f"{where}: PREFIX is used twice.", f"{prefix!r}: one route each."))
    else:
        seen.add(prefix.rstrip("/") + "/")
    try:
        TokenType(entry.get("TOKEN_TYPE", TokenType.USER))
    except ValueError:
        hint = "One of user, client, user_or_client, none."
        problems.append(Problem("django_bff.E044", f"{where}: unknown TOKEN_TYPE.", hint))
    flags = [k for k in _FLAGS if not isinstance(entry.get(k, False), bool)]
    insecure = entry.get("ALLOW_INSECURE")
    if insecure is not None and not isinstance(insecure, bool):
        flags.append("ALLOW_INSECURE")
    if flags:
        hint = f"{', '.join(flags)}: write True or False."
        problems.append(Problem("django_bff.E045", f"{where}: a flag is not True or False.", hint))
    try:
        _validate_target(entry["TARGET"], insecure if isinstance(insecure, bool) else allow_default)
    except BFFImproperlyConfigured as e:
        problems.append(Problem("django_bff.E019", f"{where}: TARGET is not allowed.", str(e)))
    if entry.get("RETRIEVER") is not None:
        try:
            load_class(entry["RETRIEVER"], AccessTokenRetriever, f"{where}['RETRIEVER']")
        except BFFImproperlyConfigured as e:
            problems.append(Problem("django_bff.E021", f"{where}: the retriever is not usable.", str(e)))
    if entry.get("CLIENT", "default") not in known_clients:
        hint = f'{entry["CLIENT"]!r}: name "default" or a client of BFF["CLIENTS"].'
        problems.append(Problem("django_bff.E022", f"{where}: unknown CLIENT.", hint))
    if entry.get("FORWARD_HEADERS") is not None:
        try:
            validate_forward_headers(entry["FORWARD_HEADERS"], antiforgery_header)
        except BFFImproperlyConfigured as e:
            problems.append(Problem("django_bff.E038", f"{where}: FORWARD_HEADERS is not allowed.", str(e)))
    return problems


def _route(entry: dict[str, object], antiforgery_header: str) -> RemoteAPIRoute:
    """The route of an entry :func:`_entry_problems` found nothing wrong with."""
    retriever = entry.get("RETRIEVER")
    token_type = entry.get("TOKEN_TYPE", TokenType.USER)
    forward = entry.get("FORWARD_HEADERS")
    insecure = entry.get("ALLOW_INSECURE")
    return RemoteAPIRoute(
        prefix=str(entry["PREFIX"]),
        target=str(entry["TARGET"]),
        token_type=TokenType(str(token_type)),
        optional=entry.get("OPTIONAL", False) is True,
        retriever=None if retriever is None else load_class(retriever, AccessTokenRetriever, "RETRIEVER"),
        client=str(entry.get("CLIENT", "default")),
        antiforgery=entry.get("ANTIFORGERY", True) is True,
        require_authentication=entry.get("REQUIRE_AUTHENTICATION", False) is True,
        allow_insecure=insecure if isinstance(insecure, bool) else None,
        forward_headers=None if forward is None else tuple(validate_forward_headers(forward, antiforgery_header)),
    )
