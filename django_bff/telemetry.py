"""Metrics and traces through OpenTelemetry: what an operator needs to see.

In the data flow: beside it. The proxy view, the token manager and
:mod:`django_bff.oauth` report here; nothing here changes what a call does.

Install the extra (``pip install "django-bff[otel]"``, which brings
``opentelemetry-api``) and configure an OpenTelemetry SDK in your project: the
measurements below then reach your exporters (OTLP, Prometheus...). Without the
API package, or without an SDK, every call here does nothing.

Metrics (meter ``django_bff``); names and attributes follow the OpenTelemetry
semantic conventions where they have one (``http.client.*``, ``http.route``,
``http.request.method``, ``http.response.status_code``, ``server.address``,
``error.type``), and are ``bff.*`` otherwise:

=======================================  =========  ======  ==================================================
name                                     kind       unit    attributes
=======================================  =========  ======  ==================================================
``bff.token.requests``                   counter    ``1``   ``bff.grant_type``, ``bff.outcome`` (``ok``,
                                                            ``rejected``, ``unavailable``, ``in_doubt``)
``bff.token.request.duration``           histogram  ``s``   ``bff.grant_type``, ``bff.outcome``
``bff.token.refreshes``                  counter    ``1``   ``bff.outcome`` (``ok``, ``invalid_grant``,
                                                            ``transient``, ``error``)
``bff.refresh_lock.wait.duration``       histogram  ``s``   ``bff.token.kind`` (``user``, ``client``,
                                                            ``exchange``),
                                                            ``bff.outcome`` (``acquired``, ``joined``,
                                                            ``timeout``)
``bff.refresh_lock.timeouts``            counter    ``1``   ``bff.token.kind``
``bff.single_flight.joins``              counter    ``1``   ``bff.token.kind``: calls served by another
                                                            worker's token request
``bff.client_token.cache``               counter    ``1``   ``bff.cache.result`` (``hit``, ``miss``)
``bff.proxy.requests``                   counter    ``1``   ``http.route``, ``http.request.method``,
                                                            ``bff.status_class`` (``2xx``...)
``http.client.request.duration``         histogram  ``s``   ``http.request.method``, ``server.address``,
                                                            ``server.port``, ``http.response.status_code``,
                                                            ``error.type``, ``http.route``
``http.client.request.body.size``        histogram  ``By``  as above
``http.client.response.body.size``       histogram  ``By``  as above
=======================================  =========  ======  ==================================================

Spans (tracer ``django_bff``), of kind ``CLIENT``: one per token-service
request (named by its method, with ``url.full`` without the query,
``server.address``, ``http.response.status_code`` and ``bff.operation``) and
one per upstream call of the proxy (named ``{method} {route}``), whose context
goes upstream in the W3C ``traceparent`` header. No attribute ever holds a
token, a query string or a body.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import django_bff

__all__ = [
    "configure",
    "record",
    "observe",
    "span",
    "inject",
    "status_class",
    "without_query",
    "server_attributes",
    "ENABLED",
]

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import propagate as _propagate
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - the extra is not installed
    _metrics = _trace = _propagate = None  # type: ignore[assignment]  # the modules are None without the extra

#: Whether opentelemetry-api is installed (it still does nothing without an SDK).
ENABLED = _metrics is not None

_COUNTERS: dict[str, tuple[str, str]] = {
    "bff.token.requests": ("1", "Token-service requests by grant type and outcome."),
    "bff.token.refreshes": ("1", "User-token refreshes by outcome."),
    "bff.refresh_lock.timeouts": ("1", "Calls that gave up waiting for another worker's token request."),
    "bff.single_flight.joins": ("1", "Calls served by another worker's token request."),
    "bff.client_token.cache": ("1", "Client-credentials token cache lookups by result."),
    "bff.proxy.requests": ("1", "Proxied calls by route, method and status class."),
}
_HISTOGRAMS: dict[str, tuple[str, str]] = {
    "bff.token.request.duration": ("s", "Duration of token-service requests."),
    "bff.refresh_lock.wait.duration": ("s", "Time spent waiting for a refresh lock."),
    "http.client.request.duration": ("s", "Duration of upstream calls of the proxy."),
    "http.client.request.body.size": ("By", "Request body size of upstream calls."),
    "http.client.response.body.size": ("By", "Response body size of upstream calls."),
}

_instruments: dict[str, Any] = {}
_providers: dict[str, Any] = {"meter": None, "tracer": None}


def configure(*, meter_provider: Any = None, tracer_provider: Any = None) -> None:
    """Use these providers instead of OpenTelemetry's global ones (``None``: the global ones).

    For a project that keeps django_bff's telemetry apart, and for tests.
    """
    _providers.update(meter=meter_provider, tracer=tracer_provider)
    _instruments.clear()


def _instrument(name: str) -> Any:
    made = _instruments.get(name)
    if made is None:
        meter = _metrics.get_meter("django_bff", django_bff.__version__, meter_provider=_providers["meter"])
        if name in _COUNTERS:
            unit, description = _COUNTERS[name]
            made = meter.create_counter(name, unit=unit, description=description)
        else:
            unit, description = _HISTOGRAMS[name]
            made = meter.create_histogram(name, unit=unit, description=description)
        _instruments[name] = made
    return made


def record(name: str, attributes: Mapping[str, Any] | None = None, value: int = 1) -> None:
    """Add ``value`` to the counter ``name``."""
    if ENABLED:
        _instrument(name).add(value, attributes=_clean(attributes))


def observe(name: str, value: float, attributes: Mapping[str, Any] | None = None) -> None:
    """Record ``value`` in the histogram ``name``."""
    if ENABLED:
        _instrument(name).record(value, attributes=_clean(attributes))


def _clean(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (attributes or {}).items() if v is not None}


def status_class(status: int) -> str:
    """``"2xx"`` for 204, and so on."""
    return f"{status // 100}xx"


def without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def server_attributes(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"server.address": parts.hostname, "server.port": port}


class _Span:
    """What :func:`span` yields: set attributes on the span, whether there is one or not."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.started = time.monotonic()

    def set(self, name: str, value: Any) -> None:
        if self.real is not None and value is not None:
            self.real.set_attribute(name, value)

    def error(self, error_type: str) -> None:
        if self.real is not None:
            from opentelemetry.trace import Status, StatusCode

            self.real.set_attribute("error.type", error_type)
            self.real.set_status(Status(StatusCode.ERROR))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[_Span]:
    """A ``CLIENT`` span named ``name`` around the block (a no-op object without OpenTelemetry)."""
    if not ENABLED:
        yield _Span(None)
        return
    tracer = _trace.get_tracer("django_bff", django_bff.__version__, tracer_provider=_providers["tracer"])
    with tracer.start_as_current_span(
        name, kind=_trace.SpanKind.CLIENT, attributes=_clean(attributes), record_exception=False
    ) as real:
        yield _Span(real)


def inject(headers: MutableMapping[str, str]) -> None:
    """Put the current trace context in ``headers`` (W3C ``traceparent``/``tracestate``), if there is one.

    The context replaces any the browser sent (whatever its case); without a
    recording span, ``headers`` are left as they are.
    """
    if not ENABLED:
        return
    carrier: dict[str, str] = {}
    _propagate.inject(carrier)
    if carrier:
        names = {name.lower() for name in carrier}
        for name in [n for n in headers if n.lower() in names]:
            del headers[name]
        headers.update(carrier)
