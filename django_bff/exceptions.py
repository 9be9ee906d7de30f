"""Exceptions raised by django_bff.

In the data flow: raised anywhere below an entry point, and turned into answers
in one place (:mod:`django_bff.responses`).

The tree::

    BFFError
    ├── BFFImproperlyConfigured   (also django.core.exceptions.ImproperlyConfigured)
    │   └── InvalidTokenStore
    ├── TokenStoreError
    │   └── TokenStoreConflict     a compare-and-set write lost against a newer one
    ├── StorageUnavailable         the cache or the session storage cannot be reached (503)
    ├── TokenServiceError          the token service answered badly (carries status_code)
    │   ├── TokenServiceUnavailable    down, slow, 5xx, not JSON, too large: transient (503)
    │   └── TokenRequestRejected       an OAuth error answer such as invalid_grant
    ├── AccessTokenUnavailable     no token to attach to an outgoing request (401 or 503)
    ├── BFFRequestError            refused by a BFF endpoint, nothing sent on (4xx; 400)
    │   ├── AntiforgeryRequired        the anti-forgery header is missing (401)
    │   ├── CsrfFailed                 a route without it lacks Django's CSRF token (403)
    │   ├── InvalidContentLength       a Content-Length that is not a number (400)
    │   ├── InvalidProxyPath           the path would leave the target (400)
    │   │                              (also SuspiciousOperation)
    │   ├── LengthRequired             a request body without Content-Length (411)
    │   └── RequestBodyTooLarge        over BFF["MAX_REQUEST_BODY"] (413)
    ├── UpstreamError              the remote API failed a proxied call (5xx; 502)
    │                              (alias ProxyError)
    │   ├── UpstreamUnavailable        the remote API cannot be reached (502)
    │   │   └── UpstreamInvalidResponse    its answer cannot be read (502)
    │   └── UpstreamTimeout            the remote API did not answer in time (504)
    └── InvalidLogoutToken         a back-channel logout token that fails validation
                                   (400; also SuspiciousOperation)

Runtime errors carry ``status_code`` and ``default_code``, the HTTP status and
code a BFF endpoint answers with. Messages never contain a token, a secret or an
upstream body.

The browser's faults and the remote API's are separate branches:
:class:`BFFRequestError` (4xx), raised by the checks of every BFF endpoint (the
anti-forgery header first) and of the proxy, and :class:`UpstreamError` (5xx),
raised by the proxy when the remote API fails it. :data:`ProxyError` is
:class:`UpstreamError` under its former name; it no longer catches the request
errors, which were under it until the branches were split.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation

__all__ = [
    "BFFError",
    "BFFImproperlyConfigured",
    "InvalidTokenStore",
    "TokenStoreError",
    "TokenStoreConflict",
    "StorageUnavailable",
    "TokenServiceError",
    "TokenServiceUnavailable",
    "TokenRequestRejected",
    "AccessTokenUnavailable",
    "BFFRequestError",
    "AntiforgeryRequired",
    "CsrfFailed",
    "InvalidContentLength",
    "InvalidProxyPath",
    "LengthRequired",
    "RequestBodyTooLarge",
    "UpstreamError",
    "ProxyError",
    "UpstreamUnavailable",
    "UpstreamInvalidResponse",
    "UpstreamTimeout",
    "InvalidLogoutToken",
]


class BFFError(Exception):
    """Base class of every django_bff error."""

    status_code: int = 500
    default_code: str = "bff_error"


class BFFImproperlyConfigured(BFFError, ImproperlyConfigured):
    """A setting is wrong. System checks report most of these at start-up."""

    default_code = "improperly_configured"


class InvalidTokenStore(BFFImproperlyConfigured):
    """``BFF["USER_TOKEN_STORE"]`` cannot be imported or instantiated."""

    default_code = "invalid_token_store"


class TokenStoreError(BFFError):
    """A token store could not read or write."""

    default_code = "token_store_error"


class TokenStoreConflict(TokenStoreError):
    """A write was refused because the stored tokens changed since this request read them."""

    status_code = 409
    default_code = "token_store_conflict"


class StorageUnavailable(BFFError):
    """The cache (locks, cached tokens) or the session storage could not be reached.

    Transient: the browser gets 503 with ``Retry-After``; nothing is changed.
    """

    status_code = 503
    default_code = "storage_unavailable"

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class TokenServiceError(BFFError):
    """The token service (the identity provider) did not give a usable answer."""

    status_code = 502
    default_code = "token_service_error"

    def __init__(self, message: str, *, error: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.error = error
        self.retry_after = retry_after


class TokenServiceUnavailable(TokenServiceError):
    """Transient: the token service is down, too slow, answered 5xx, not JSON or too much.

    ``in_doubt`` is True when the request may have reached the token service and
    no complete answer came back (a timeout or a connection lost after sending):
    the service may still act on it, so a refresh token sent with it must not be
    sent again at once.
    """

    status_code = 503
    default_code = "token_service_unavailable"

    def __init__(
        self, message: str, *, error: str | None = None, retry_after: int | None = None, in_doubt: bool = False
    ):
        super().__init__(message, error=error, retry_after=retry_after)
        self.in_doubt = in_doubt


class TokenRequestRejected(TokenServiceError):
    """The token service answered with an OAuth error (``error`` holds its code)."""

    status_code = 401
    default_code = "token_request_rejected"


class AccessTokenUnavailable(BFFError):
    """No access token could be attached (raised by :mod:`django_bff.http` auth objects).

    ``error`` is the :class:`~django_bff.tokens.TokenError` code. Transient
    errors answer 503 with ``retry_after``; ``token_service_error`` (the token
    service refused in a way a new login does not fix) 502; the others 401.
    """

    status_code = 401
    default_code = "access_token_unavailable"

    def __init__(self, error: str, *, transient: bool = False, retry_after: int | None = None):
        super().__init__(f"no access token: {error}")
        self.error = error
        self.transient = transient
        self.retry_after = retry_after
        if transient:
            self.status_code = 503
        elif error == "token_service_error":
            self.status_code = 502


class BFFRequestError(BFFError):
    """A request a BFF endpoint refuses as the browser sent it, before any token work or upstream call."""

    status_code = 400
    default_code = "bad_request"


class AntiforgeryRequired(BFFRequestError):
    """The anti-forgery header (``X-CSRF: 1`` by default) is missing or wrong."""

    status_code = 401
    default_code = "antiforgery_header_required"


class CsrfFailed(BFFRequestError):
    """A route that opted out of the anti-forgery header was called without Django's CSRF token."""

    status_code = 403
    default_code = "csrf_failed"


class InvalidContentLength(BFFRequestError):
    """The Content-Length header is not a non-negative integer."""

    status_code = 400
    default_code = "invalid_content_length"


class InvalidProxyPath(BFFRequestError, SuspiciousOperation):
    """The requested path would leave the target's path, or is malformed."""

    status_code = 400
    default_code = "invalid_path"


class LengthRequired(BFFRequestError):
    """A request body sent without Content-Length (chunked), which WSGI cannot stream."""

    status_code = 411
    default_code = "length_required"


class RequestBodyTooLarge(BFFRequestError):
    """The request body is larger than ``BFF["MAX_REQUEST_BODY"]``."""

    status_code = 413
    default_code = "request_body_too_large"


class UpstreamError(BFFError):
    """A proxied call that cannot be made or completed on the remote API's side.

    Its code is ``proxy_error``, that of :data:`ProxyError`, which is this class
    under its name from before the request errors got a branch of their own.
    """

    status_code = 502
    default_code = "proxy_error"


#: :class:`UpstreamError` under the name it had while the request errors were under
#: it too: ``except ProxyError`` now catches the upstream errors only.
ProxyError = UpstreamError


class UpstreamUnavailable(UpstreamError):
    """The remote API refused the connection or could not be reached."""

    status_code = 502
    default_code = "upstream_unavailable"


class UpstreamInvalidResponse(UpstreamUnavailable):
    """The remote API's answer cannot be read: headers that do not parse, an invalid Content-Length (502)."""

    default_code = "upstream_invalid_response"


class UpstreamTimeout(UpstreamError):
    """The remote API did not answer within ``BFF["PROXY_READ_TIMEOUT"]``."""

    status_code = 504
    default_code = "upstream_timeout"


class InvalidLogoutToken(BFFError, SuspiciousOperation):
    """A back-channel logout token that fails validation (the message says which rule, never the token)."""

    status_code = 400
    default_code = "invalid_logout_token"
