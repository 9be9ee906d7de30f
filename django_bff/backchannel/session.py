"""The back-channel session and its bounded exchange: every request django_bff sends to the token service.

In the data flow: the bottom of every path to the provider. :mod:`django_bff.oauth`
and :mod:`.discovery` send through :func:`fetch`, with the session
``BFF["BACKCHANNEL_SESSION"]`` names (:func:`default_session` by default); the
package's docstring says what bounds each exchange.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

import django_bff
from django_bff import telemetry
from django_bff.conf import bff_settings, per_settings_closing, stop_threads
from django_bff.exceptions import BFFImproperlyConfigured, TokenServiceUnavailable

__all__ = [
    "default_session",
    "BackchannelSession",
    "BackchannelResponse",
    "fetch",
    "get_backchannel_session",
    "forget_session",
]

logger = logging.getLogger("django_bff.backchannel")  # the package's one logger, named as before

USER_AGENT = f"django-bff/{django_bff.__version__}"


class BackchannelSession(requests.Session):
    """A :class:`requests.Session` with a default timeout and no redirects."""

    def __init__(self, timeout: tuple[float, float], pool_size: int = 10) -> None:
        super().__init__()
        self.timeout = timeout
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        # Per request, so that REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment cannot
        # replace BFF["BACKCHANNEL_VERIFY"] (requests lets them win over the session's value).
        kwargs.setdefault("verify", self.verify)
        # Forced, not defaulted: Session.get() itself defaults allow_redirects to True.
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


def default_session() -> requests.Session:
    """The default ``BFF["BACKCHANNEL_SESSION"]``: pooled, with finite timeouts."""
    session = BackchannelSession(bff_settings.backchannel_timeout, bff_settings.BACKCHANNEL_POOL_SIZE)
    session.verify = bff_settings.BACKCHANNEL_VERIFY
    cert = bff_settings.BACKCHANNEL_CLIENT_CERT
    if cert:
        # Mutual TLS to the token service (RFC 8705 tls_client_auth, or a provider that asks for it).
        session.cert = cert if isinstance(cert, str) else (cert[0], cert[1])  # a pair: the check E030
    return session


@per_settings_closing(requests.Session.close)
def get_backchannel_session() -> requests.Session:
    """The process-wide session made by ``BFF["BACKCHANNEL_SESSION"]`` (made once per settings)."""
    made = bff_settings.BACKCHANNEL_SESSION()
    if not isinstance(made, requests.Session):
        raise BFFImproperlyConfigured(
            f'BFF["BACKCHANNEL_SESSION"] must return a requests.Session, got {type(made).__name__}'
        )
    return made


# --- one bounded exchange -----------------------------------------------------


@dataclass(frozen=True, repr=False)
class BackchannelResponse:
    """A complete answer of the token service, read within the deadline and the size limit."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The parsed body; :class:`ValueError` when it is not JSON."""
        return json.loads(self.content)

    def __repr__(self) -> str:
        return f"<BackchannelResponse {self.status_code}, {len(self.content)} bytes>"


@per_settings_closing(stop_threads)
def _get_executor() -> concurrent.futures.ThreadPoolExecutor:
    """Threads that make back-channel exchanges, so that a caller can stop waiting at the deadline."""
    size = max(4, bff_settings.BACKCHANNEL_POOL_SIZE)
    return concurrent.futures.ThreadPoolExecutor(size, thread_name_prefix="django-bff-backchannel")


def _retry_after() -> int:
    return bff_settings.RETRY_AFTER


def _maybe_sent(error: requests.RequestException) -> bool:
    """False when ``error`` happened before the request could reach the server."""
    if isinstance(error, (requests.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        return False
    cause = error.args[0] if error.args else None
    reason = getattr(cause, "reason", cause)
    return not isinstance(reason, urllib3.exceptions.NewConnectionError)


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: each read returns after at most one read from the socket."""
    raw = response.raw
    if isinstance(raw, urllib3.HTTPResponse):
        while True:
            chunk = raw.read1(65536, decode_content=True)
            if not chunk:
                return
            yield chunk
    else:  # pragma: no cover - a BACKCHANNEL_SESSION whose adapter is not urllib3's
        yield from response.iter_content(65536)


def _exchange(
    session: requests.Session,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    deadline: float,
    limit: int,
    what: str,
) -> BackchannelResponse:
    if time.monotonic() >= deadline:
        # Queued behind stuck exchanges until its caller gave up: never send it late.
        raise TokenServiceUnavailable(f"{what}: not sent in time", retry_after=_retry_after())
    try:
        response = session.request(method, url, stream=True, allow_redirects=False, **kwargs)
    except requests.Timeout as e:
        logger.warning("%s to %s timed out", what, url)
        raise TokenServiceUnavailable(
            f"{what}: the token service did not answer in time", retry_after=_retry_after(), in_doubt=_maybe_sent(e)
        ) from None
    except requests.RequestException as e:
        logger.warning("%s to %s failed: %s", what, url, type(e).__name__)
        raise TokenServiceUnavailable(
            f"{what}: the token service is unreachable", retry_after=_retry_after(), in_doubt=_maybe_sent(e)
        ) from None
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            logger.warning("%s to %s: the answer announces %s bytes, over %d; refused", what, url, declared, limit)
            raise TokenServiceUnavailable(f"{what}: the answer is too large", retry_after=_retry_after())
        body = bytearray()
        for chunk in _chunks(response):
            body += chunk
            if len(body) > limit:
                logger.warning("%s to %s: the answer is over %d bytes; refused", what, url, limit)
                raise TokenServiceUnavailable(f"{what}: the answer is too large", retry_after=_retry_after())
            if time.monotonic() > deadline:
                raise TokenServiceUnavailable(f"{what}: the answer took too long", in_doubt=True)
        return BackchannelResponse(response.status_code, response.headers, bytes(body))
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as e:
        logger.warning("%s to %s: the answer was cut off: %s", what, url, type(e).__name__)
        raise TokenServiceUnavailable(
            f"{what}: the answer was cut off", retry_after=_retry_after(), in_doubt=True
        ) from None
    finally:
        response.close()


def fetch(
    method: str,
    url: str,
    *,
    what: str,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: AuthBase | tuple[str, str] | None = None,
) -> BackchannelResponse:
    """One exchange with the token service through the back-channel session, bounded.

    The whole exchange has ``BACKCHANNEL_CONNECT_TIMEOUT + BACKCHANNEL_READ_TIMEOUT``
    seconds; the answer at most ``BACKCHANNEL_MAX_RESPONSE_SIZE`` bytes. Raises
    :class:`~django_bff.exceptions.TokenServiceUnavailable` (with ``in_doubt``
    when the request may have been acted on) and nothing else for network
    trouble; any HTTP status is a :class:`BackchannelResponse`.
    """
    connect, read = bff_settings.backchannel_timeout
    total = connect + read
    deadline = time.monotonic() + total
    attributes = {
        "http.request.method": method,
        "url.full": telemetry.without_query(url),
        **telemetry.server_attributes(url),
        "bff.operation": what,
    }
    with telemetry.span(method, attributes) as span:
        sent_headers = dict(headers or {})
        telemetry.inject(sent_headers)
        kwargs: dict[str, Any] = {"timeout": (connect, read), "headers": sent_headers, "auth": auth}
        if data is not None:
            kwargs["data"] = dict(data)
        limit = bff_settings.BACKCHANNEL_MAX_RESPONSE_SIZE
        session = get_backchannel_session()
        future = _get_executor().submit(_exchange, session, method, url, kwargs, deadline, limit, what)
        try:
            response = future.result(timeout=total)
        except concurrent.futures.TimeoutError:
            sent = not future.cancel()
            logger.warning("%s to %s: no complete answer within %.0f s; abandoned", what, url, total)
            span.error("timeout")
            raise TokenServiceUnavailable(
                f"{what}: the token service did not answer in time", retry_after=_retry_after(), in_doubt=sent
            ) from None
        except TokenServiceUnavailable as e:
            span.error("in_doubt" if e.in_doubt else "unavailable")
            raise
        span.set("http.response.status_code", response.status_code)
        if response.status_code >= 400:
            span.error(str(response.status_code))
        return response


def forget_session() -> None:
    """Close and forget the back-channel session and the threads of the bounded exchange."""
    get_backchannel_session.reset()
    _get_executor.reset()
