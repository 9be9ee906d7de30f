"""The upstream call as a flow: the DPoP retry and the OpenTelemetry span, written once for both paths.

In the data flow: between the proxy's two paths (the thread path of
:mod:`django_bff.proxy.view`, the async path of
:mod:`django_bff.proxy.async_view`) and their transports. A path hands
:func:`traced_flow` a :class:`~django_bff.proxy.dpop.Sender` (its transport's
I/O, as operations) and runs the flow with the token manager's sync or async
driver (:mod:`django_bff.token_manager.flow`): the decisions (whether DPoP
asks for a retry, what the span and the ``http.client.*`` metrics record) are
made here once, whichever transport sends.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

from django_bff import telemetry
from django_bff.exceptions import BFFError
from django_bff.proxy.dpop import Sender, proof_flow
from django_bff.proxy.headers import UpstreamAnswer
from django_bff.proxy.paths import _loggable
from django_bff.retrievers import DPoPTokenResult
from django_bff.token_manager.flow import Flow

__all__ = ["call_flow", "traced_flow"]

A = TypeVar("A", bound=UpstreamAnswer)


def call_flow(url: str, length: int, result: Any, sender: Sender[A]) -> Flow[A]:
    """The upstream answer: one call, or a DPoP call with its nonce and at most one retry."""
    if isinstance(result, DPoPTokenResult):
        return (yield from proof_flow(url, length, sender))
    return (yield from sender.send(None, None))


def traced_flow(
    route: str, method: str, url: str, result: Any, length: int, sender: Sender[A]
) -> Flow[tuple[A, dict[str, Any]]]:
    """:func:`call_flow` in a ``CLIENT`` span, with the ``http.client.*`` metrics; the answer and their attributes."""
    attributes: dict[str, Any] = {
        "http.request.method": method,
        **telemetry.server_attributes(url),
        "http.route": route,
    }
    started = time.monotonic()
    with telemetry.span(f"{method} {route}", {**attributes, "url.full": _loggable(url)}) as span:
        try:
            upstream = yield from call_flow(url, length, result, sender)
        except BFFError as e:
            span.error(e.default_code)
            telemetry.observe(
                "http.client.request.duration", span.elapsed, {**attributes, "error.type": e.default_code}
            )
            raise
        attributes["http.response.status_code"] = upstream.status
        span.set("http.response.status_code", upstream.status)
        if upstream.status >= 500:
            span.error(str(upstream.status))
    telemetry.observe("http.client.request.duration", time.monotonic() - started, attributes)
    telemetry.observe("http.client.request.body.size", length, attributes)
    return upstream, attributes
