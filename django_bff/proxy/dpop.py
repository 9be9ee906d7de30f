"""The proxy's DPoP calls (RFC 9449): the API's nonce sent first, learnt from every answer, one retry when refused.

In the data flow: called by the proxy view (:mod:`django_bff.proxy.view`)
for a call whose retriever gave a
:class:`~django_bff.retrievers.DPoPTokenResult`, in place of its one upstream
call. It reads and keeps the API's nonce through
:mod:`django_bff.dpop_nonces` (the shared cache, per API origin), and the
view's sender makes each call's fresh proof (:func:`django_bff.dpop.make_proof`)
and sends it.

What a DPoP call costs beyond a bearer call: one cache read (the remembered
nonce of the API's origin), a proof signed in memory, and a cache write only
when an answer carries a ``DPoP-Nonce`` other than the one sent. An API that
demands nonces costs one more round trip when the remembered nonce is missing
or stale (its ``use_dpop_nonce`` refusal), so once per nonce lifetime across
every process, not once per call.

A refused call is sent once more, with the new nonce, when its body can be
sent twice: no body, or one of at most ``BFF["DPOP_REPLAY_MAX_BODY"]`` bytes,
which is then read whole before the first try. A larger body is streamed once,
with the remembered nonce, and a refusal is passed through (the next call
starts with the new nonce).

The decisions are written once, as a flow (:func:`proof_flow`, run by the
token manager's drivers, :mod:`django_bff.token_manager.flow`): the thread
path runs it with :func:`call_with_proof`, the async path
(:mod:`django_bff.proxy.async_view`) with ``run_async`` and its own sender.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

import urllib3
from django.http import HttpRequest

from django_bff import dpop
from django_bff.conf import bff_settings
from django_bff.dpop_nonces import anonce_for, aremember_nonce, nonce_for, origin_scope, remember_nonce
from django_bff.proxy.headers import UpstreamAnswer
from django_bff.proxy.transport import _Body, _finish
from django_bff.token_manager.flow import Call, Flow, call, run_sync

__all__ = ["call_with_proof", "proof_flow", "Sender", "ThreadSender"]

# The proxy package's one logger: docs/proxy.rst names it in its table of log lines.
logger = logging.getLogger("django_bff.proxy")


A = TypeVar("A", bound=UpstreamAnswer)


class Sender(Protocol[A]):
    """The I/O of one transport, as the operations a flow yields."""

    def send(self, nonce: str | None, content: bytes | None) -> Call[A]:
        """Send the call with this nonce in its proof (None: none) and this body (None: the request's, streamed)."""

    def discard(self, answer: A) -> Call[None]:
        """Close an answer that is not passed on."""

    def read_body(self, length: int) -> Call[bytes]:
        """The request's body, read whole."""


def _learn(scope: str, sent: str | None, upstream: UpstreamAnswer) -> Flow[str | None]:
    """Remember the answer's ``DPoP-Nonce`` when it is not the one sent; the nonce to send next."""
    fresh = upstream.headers.get("DPoP-Nonce")
    if fresh and fresh != sent:
        yield from call(remember_nonce, aremember_nonce, scope, fresh)
        return str(fresh)
    return sent


def proof_flow(url: str, length: int, sender: Sender[A]) -> Flow[A]:
    """The upstream answer of a DPoP call to ``url``, after at most one nonce retry."""
    scope = origin_scope(url)
    nonce = yield from call(nonce_for, anonce_for, scope)
    content: bytes | None = None
    if 0 < length <= bff_settings.DPOP_REPLAY_MAX_BODY:
        content = yield from sender.read_body(length)  # small enough to send twice
    upstream = yield from sender.send(nonce, content)
    nonce = yield from _learn(scope, nonce, upstream)
    wanted = dpop.wants_nonce(upstream.status, upstream.headers)
    if wanted is None:
        return upstream
    if length and content is None:
        logger.debug("use_dpop_nonce on a streamed body of %d bytes: passed through", length)
        return upstream
    # RFC 9449 section 9: the API wants (another) nonce in the proof; one more try.
    yield from sender.discard(upstream)
    upstream = yield from sender.send(wanted, content)
    yield from _learn(scope, wanted, upstream)
    return upstream


class ThreadSender:
    """The thread path's I/O (``send(nonce, content)`` makes one urllib3 call), as the operations of a flow."""

    def __init__(self, request: HttpRequest, send: Callable[[str | None, bytes | None], urllib3.HTTPResponse]) -> None:
        self.request = request
        self._send = send

    def send(self, nonce: str | None, content: bytes | None) -> Call[urllib3.HTTPResponse]:
        return Call(lambda: self._send(nonce, content))

    def discard(self, answer: urllib3.HTTPResponse) -> Call[None]:
        return Call(lambda: _finish(answer, False))

    def read_body(self, length: int) -> Call[bytes]:
        return Call(lambda: b"".join(_Body(self.request, length, length)))


def call_with_proof(
    request: HttpRequest,
    url: str,
    length: int,
    send: Callable[[str | None, bytes | None], urllib3.HTTPResponse],
) -> urllib3.HTTPResponse:
    """:func:`proof_flow` on the thread path: ``send(nonce, content)`` makes one upstream call."""
    return run_sync(proof_flow(url, length, ThreadSender(request, send)))
