"""The proxy's URLs: the upstream URL built from a route's target and the browser's path, and proven.

In the data flow: the proxy view (:mod:`django_bff.proxy.view`) calls
:func:`build_upstream_url` (step 2 of a call, after the anti-forgery check and
before the body, the retriever and the token manager), so that a path the
upstream could read differently from us is refused (400) before any token work;
``remote_api()`` and the system checks validate a route's target with
:func:`_validate_target`. No I/O.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit, urlunsplit

from django.http import HttpRequest

from django_bff.conf import bff_settings
from django_bff.exceptions import BFFImproperlyConfigured, InvalidProxyPath

__all__ = ["build_upstream_url"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
#: RFC 3986 pchar, less "%": what a segment may hold unencoded.
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"


def _raw_path(request: HttpRequest) -> str | None:
    """The path exactly as the client sent it, when the server tells us (gunicorn, uvicorn)."""
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if raw:
        return str(raw).split("?", 1)[0]
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and isinstance(scope.get("raw_path"), bytes):
        return str(scope["raw_path"].decode("latin-1"))
    return None


def _check_segment(segment: str) -> None:
    if segment == "":
        raise InvalidProxyPath("empty path segment")
    base = segment.split(";", 1)[0]  # "..;/" is ".." to some servers
    if base.strip(".") == "":
        raise InvalidProxyPath("dot segment")
    # An upstream that NFKC-normalises would read U+FF0E as "." and U+FF0F as "/".
    normalized = unicodedata.normalize("NFKC", segment)
    if any(c in normalized for c in "/\\%") or normalized.split(";", 1)[0].strip(".") == "":
        raise InvalidProxyPath("a segment that normalises to a separator or a dot segment")


def build_upstream_url(target: str, path: str, query: str = "", raw_path: str | None = None) -> str:
    """The upstream URL for ``path`` (already decoded once) below ``target``.

    ``raw_path`` is the path as the client sent it, without the query, when the
    server tells us (it lets encoded slashes and non-UTF-8 bytes be refused).

    Raises :class:`InvalidProxyPath` for anything that could leave the target or
    that the upstream might read differently from us.
    """
    if raw_path is not None:
        if _ENCODED_SEPARATOR.search(raw_path):
            raise InvalidProxyPath("encoded slash or backslash")
        try:
            unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            # Servers disagree on what to make of such bytes (uvicorn: U+FFFD).
            raise InvalidProxyPath("the path is not UTF-8") from None
    if _CONTROL.search(path) or "\\" in path:
        raise InvalidProxyPath("control character or backslash")
    if "%" in path:
        raise InvalidProxyPath("percent sign left after decoding (double encoding)")
    if _CONTROL.search(unquote(query)):
        raise InvalidProxyPath("control character in the query")
    if _MALFORMED_ESCAPE.search(query):
        # requests would re-encode every "%" of such a query, changing its meaning.
        raise InvalidProxyPath("malformed percent escape in the query")
    segments = path.split("/") if path else []
    if segments and segments[-1] == "":
        segments.pop()  # a trailing slash is kept below
        trailing = True
    else:
        trailing = False
    for segment in segments:
        _check_segment(segment)
    base = urlsplit(target)
    base_path = base.path if base.path.endswith("/") else base.path + "/"
    suffix = "/".join(quote(s, safe=_SEGMENT_SAFE) for s in segments)
    if trailing and suffix:
        suffix += "/"
    new_path = base_path + suffix if suffix else (base.path or "/")
    url = urlunsplit((base.scheme, base.netloc, new_path, query, ""))
    final = urlsplit(url)
    # Proof, not trust: the URL that leaves is on the target's origin and below its path.
    if (final.scheme, final.hostname, final.port) != (base.scheme, base.hostname, base.port):
        raise InvalidProxyPath("the URL left the target's origin")
    if not (final.path == base.path or final.path.startswith(base_path)):
        raise InvalidProxyPath("the URL left the target's path")
    return url


def _loggable(url: str) -> str:
    """The URL without its query string (which may carry secrets)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _is_websocket_target(target: object) -> bool:
    """Whether a route's target is a WebSocket URL (``ws://``, ``wss://``): a route that
    :class:`~django_bff.asgi.BFFApplication` proxies, and that plain HTTP requests find answered 426."""
    return isinstance(target, str) and urlsplit(target).scheme in ("ws", "wss")


def _validate_target(target: Any, allow_insecure: bool | None) -> None:
    """Raise :class:`BFFImproperlyConfigured` unless ``target`` is an absolute http(s) or ws(s) URL (https or wss
    outside DEBUG unless ``allow_insecure`` or ``BFF["ALLOW_INSECURE_UPSTREAMS"]``)."""
    from django.conf import settings

    if not isinstance(target, str):
        raise BFFImproperlyConfigured(f"a remote API target must be a URL string, got {target!r}")
    parts = urlsplit(target)
    if (
        parts.scheme not in ("http", "https", "ws", "wss")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise BFFImproperlyConfigured(f"the remote API target {target!r} is not an absolute http(s) or ws(s) URL")
    if parts.scheme in ("http", "ws"):
        allowed = allow_insecure if allow_insecure is not None else bff_settings.ALLOW_INSECURE_UPSTREAMS
        if not (allowed or settings.DEBUG):
            raise BFFImproperlyConfigured(
                f"the remote API target {target!r} is not https or wss; set allow_insecure=True "
                'or BFF["ALLOW_INSECURE_UPSTREAMS"] to allow it'
            )
