"""The proxy's header policy, both ways: which request headers go upstream, which answer headers come back.

In the data flow: the proxy view (:mod:`django_bff.proxy.view`) builds the
upstream request's headers with :func:`_upstream_headers` once the retriever and
the token manager have given the token (step 5 of a call), and copies the
answer's onto the browser's response with :func:`_copy_response_headers`;
``remote_api()`` and the system checks validate a route's ``forward_headers``
with :func:`validate_forward_headers`. No I/O.

Header sets are computed once (module constants; the one holding the
anti-forgery header once per settings reload), not per call.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

from django.http import HttpRequest, HttpResponseBase

from django_bff import dpop
from django_bff.conf import bff_settings, per_settings
from django_bff.exceptions import BFFImproperlyConfigured
from django_bff.retrievers import BearerTokenResult, DPoPTokenResult

if TYPE_CHECKING:
    import urllib3

__all__ = [
    "validate_forward_headers",
    "is_identity_header",
    "HOP_BY_HOP",
    "NEVER_FORWARDED",
    "SET_BY_BFF",
    "IDENTITY_HEADERS",
    "IDENTITY_HEADER_PREFIXES",
    "NEVER_RETURNED",
    "NEVER_RETURNED_PREFIXES",
    "token_headers",
    "UpstreamAnswer",
]


#: RFC 9110 section 7.6.1, plus headers only a proxy may set: never passed on, either way.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers never sent upstream, besides the hop-by-hop ones, those the
#: request's ``Connection`` names and the anti-forgery header. No route can opt in.
NEVER_FORWARDED = frozenset({"authorization", "content-length", "cookie", "dpop", "expect", "host"})
#: Request headers the BFF sets itself, from what Django knows about the request.
SET_BY_BFF = frozenset({"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"})
#: Request headers an API could take for an identity, or for a routing decision
#: made by a trusted proxy in front of it: dropped unless a route names them in
#: ``forward_headers``. With :data:`IDENTITY_HEADER_PREFIXES`.
IDENTITY_HEADERS = frozenset(
    {
        "cf-connecting-ip",
        "cf-connecting-ipv6",
        "client-ip",
        "cloudfront-forwarded-proto",
        "cloudfront-viewer-address",
        "fastly-client-ip",
        "fly-client-ip",
        "forwarded",
        "remote-addr",
        "remote-user",
        "true-client-ip",
        "via",
        "x-client-ip",
        "x-cluster-client-ip",
        "x-forwarded",
        "x-host",
        "x-http-host-override",
        "x-http-method",
        "x-http-method-override",
        "x-method-override",
        "x-originating-ip",
        "x-proxyuser-ip",
        "x-real-ip",
        "x-rewrite-url",
    }
)
#: Every request header whose name starts with one of these is dropped as well
#: (identity and routing headers of proxies, gateways and cloud front ends).
IDENTITY_HEADER_PREFIXES = (
    "cf-access-",
    "x-amzn-oidc-",
    "x-appengine-",
    "x-arr-",
    "x-auth-request-",
    "x-azure-",
    "x-envoy-",
    "x-forwarded-",
    "x-goog-authenticated-user-",
    "x-goog-iap-",
    "x-ms-client-principal",
    "x-ms-token-",
    "x-original-",
    "x-remote-",
    "x-webauth-",
)
#: Response headers never returned to the browser, besides the hop-by-hop ones and
#: those the answer's ``Connection`` names: they would act on the BFF's origin
#: (which is the app's, not the API's) or on the server in front of it.
#: ``Content-Length`` is set again from the answer's framing, and
#: ``X-Content-Type-Options`` is always ``nosniff``.
NEVER_RETURNED = frozenset(
    {
        "accept-ch",
        "alt-svc",
        "clear-site-data",
        "content-length",
        "critical-ch",
        "date",
        "nel",
        "report-to",
        "server",
        "service-worker-allowed",
        "set-cookie",
        "set-cookie2",
        "set-login",
        "strict-transport-security",
        "x-accel-redirect",
        "x-content-type-options",
        "x-lighttpd-send-file",
        "x-sendfile",
    }
)
#: Every response header whose name starts with one of these is dropped as well (CORS).
NEVER_RETURNED_PREFIXES = ("access-control-",)

_DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | NEVER_RETURNED
#: RFC 9110 section 5.6.2: a header name.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: RFC 9110 section 5.5: a header value (no control character but HTAB).
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
#: The answer types that carry no body, and so no Content-Type of their own.
_NO_BODY_STATUSES = frozenset({204, 304})


def is_identity_header(name: str) -> bool:
    """Whether the request header ``name`` (lower case) is one an API could take for an identity
    or a trusted proxy's routing decision: :data:`IDENTITY_HEADERS`, :data:`IDENTITY_HEADER_PREFIXES`."""
    return name in IDENTITY_HEADERS or name.startswith(IDENTITY_HEADER_PREFIXES)


def validate_forward_headers(names: Any, antiforgery_header: str) -> frozenset[str]:
    """The lower-case names a route's ``forward_headers`` opts in to, checked.

    Only headers the policy drops as identity or routing headers can be opted in
    to (:func:`is_identity_header`); a header that is forwarded anyway is refused
    too, so that a misspelt name does not go unnoticed. Raises
    :class:`BFFImproperlyConfigured` naming the first name refused.
    """
    if names is None:
        return frozenset()
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple, set, frozenset)):
        raise BFFImproperlyConfigured(f"forward_headers must be a list of header names, not {names!r}")
    accepted = set()
    for name in names:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise BFFImproperlyConfigured(f"forward_headers: {name!r} is not a header name")
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in NEVER_FORWARDED or lower == antiforgery_header.lower():
            raise BFFImproperlyConfigured(f"forward_headers: {name} is never forwarded")
        if lower in SET_BY_BFF:
            raise BFFImproperlyConfigured(f"forward_headers: {name} is set by the BFF, not copied")
        if not is_identity_header(lower):
            raise BFFImproperlyConfigured(
                f"forward_headers: {name} is not an identity or routing header the BFF drops; "
                "nothing to opt in to (response headers cannot be opted in)"
            )
        accepted.add(lower)
    return frozenset(accepted)


@per_settings
def _never_forwarded() -> frozenset[str]:
    return HOP_BY_HOP | NEVER_FORWARDED | {bff_settings.ANTIFORGERY_HEADER.lower()}


def token_headers(result: Any, method: str, url: str, nonce: str | None = None) -> dict[str, str]:
    """The token's headers for a call: ``Authorization``, and a fresh ``DPoP`` proof for a bound token."""
    if isinstance(result, BearerTokenResult):
        return {"Authorization": f"Bearer {result.access_token}"}
    if isinstance(result, DPoPTokenResult):
        proof = dpop.make_proof(result.dpop_jwk, method, url, result.access_token, nonce)
        return {"Authorization": f"DPoP {result.access_token}", "DPoP": proof}
    return {}


def _upstream_headers(request: HttpRequest, token_headers: dict[str, str], forward: frozenset[str]) -> dict[str, str]:
    never = _never_forwarded()
    connection = request.headers.get("Connection")
    if connection:
        never = never | {h.strip().lower() for h in connection.split(",")}
    headers = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in never:
            continue
        # is_identity_header(), inlined: this runs for every header of every call.
        if lower in forward or not (lower in IDENTITY_HEADERS or lower.startswith(IDENTITY_HEADER_PREFIXES)):
            headers[name] = value
    headers["X-Forwarded-For"] = str(request.META.get("REMOTE_ADDR", ""))
    headers["X-Forwarded-Proto"] = request.scheme or "http"
    headers["X-Forwarded-Host"] = request.get_host()
    headers.update(token_headers)
    return headers


class UpstreamAnswer(Protocol):
    """What the shared rules read of an upstream answer: urllib3's, or the async transport's."""

    @property
    def status(self) -> int: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def headers(self) -> urllib3.HTTPHeaderDict: ...


def _copy_response_headers(response: HttpResponseBase, upstream: UpstreamAnswer) -> None:
    """Put on ``response`` what the browser may see of the upstream answer's headers, and its reason phrase.

    Less the hop-by-hop ones, those the answer's ``Connection`` names and
    :data:`NEVER_RETURNED` ones; with ``X-Content-Type-Options: nosniff``, and ``application/octet-stream``
    when the API gives no Content-Type.
    """
    upstream_headers = upstream.headers
    dropped = _DROPPED_RESPONSE_HEADERS
    connection = upstream_headers.get("Connection")
    if connection:
        dropped = dropped | {h.strip().lower() for h in connection.split(",")}
    typed = False
    for name in upstream_headers:
        lower = name.lower()
        if lower in dropped or lower.startswith(NEVER_RETURNED_PREFIXES):
            continue
        # A header sent several times becomes one, comma-joined (RFC 9110 section 5.3). Names and values
        # are valid: transport._unreadable() refused the answer otherwise.
        value = ", ".join(upstream_headers.getlist(name))
        response[name] = value
        typed = typed or (lower == "content-type" and bool(value.strip()))
    if not typed:
        # Never Django's text/html: an untyped answer would run as a page of the BFF's origin.
        if upstream.status in _NO_BODY_STATUSES:
            del response["Content-Type"]
        else:
            response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    if "transfer-encoding" not in upstream_headers:
        length = upstream_headers.get("Content-Length")
        if length:
            response["Content-Length"] = length.split(",", 1)[0].strip()  # checked by transport._unreadable()
    if upstream.reason and _FIELD_VALUE.fullmatch(upstream.reason):
        response.reason_phrase = upstream.reason
