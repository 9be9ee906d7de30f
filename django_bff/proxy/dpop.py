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
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import urllib3
from django.http import HttpRequest

from django_bff import dpop
from django_bff.conf import bff_settings
from django_bff.dpop_nonces import nonce_for, origin_scope, remember_nonce
from django_bff.proxy.transport import _Body, _finish

__all__ = ["call_with_proof"]

# The proxy package's one logger: docs/proxy.rst names it in its table of log lines.
logger = logging.getLogger("django_bff.proxy")

#: Sends the call with this nonce in its proof (None: no nonce) and this body (None: the request's, streamed).
_Sender = Callable[[str | None, bytes | None], urllib3.HTTPResponse]


def _learn(scope: str, sent: str | None, upstream: urllib3.HTTPResponse) -> str | None:
    """Remember the answer's ``DPoP-Nonce`` when it is not the one sent; the nonce to send next."""
    fresh = upstream.headers.get("DPoP-Nonce")
    if fresh and fresh != sent:
        remember_nonce(scope, fresh)
        return str(fresh)
    return sent


def call_with_proof(request: HttpRequest, url: str, length: int, send: _Sender) -> urllib3.HTTPResponse:
    """The upstream answer of a DPoP call to ``url``, after at most one nonce retry."""
    scope = origin_scope(url)
    nonce = nonce_for(scope)
    content: bytes | None = None
    if 0 < length <= bff_settings.DPOP_REPLAY_MAX_BODY:
        content = b"".join(_Body(request, length, length))  # small enough to send twice
    upstream = send(nonce, content)
    nonce = _learn(scope, nonce, upstream)
    wanted = dpop.wants_nonce(upstream.status, upstream.headers)
    if wanted is None:
        return upstream
    if length and content is None:
        logger.debug("use_dpop_nonce on a streamed body of %d bytes: passed through", length)
        return upstream
    # RFC 9449 section 9: the API wants (another) nonce in the proof; one more try.
    _finish(upstream, False)
    upstream = send(wanted, content)
    _learn(scope, wanted, upstream)
    return upstream
