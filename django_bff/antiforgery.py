"""The anti-forgery checks every BFF endpoint shares: the header, or Django's CSRF token from its header.

Reference: Duende's BFF API endpoints require the ``X-CSRF: 1`` header.

In the data flow: the first check of a call, before any token work. The proxy
view (:class:`django_bff.proxy.RemoteAPIView`), ``@bff_api``
(:mod:`django_bff.decorators`), the DRF permission (:mod:`django_bff.drf`) and
``/bff/user`` (:mod:`django_bff.views`) call it; then the retrievers and the
token manager run.

Nothing here imports the proxy or an HTTP client, so a local API endpoint that
checks the header loads neither.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponseBase

from django_bff.conf import bff_settings
from django_bff.exceptions import AntiforgeryRequired, CsrfFailed

__all__ = ["check_antiforgery", "check_csrf_header"]

security_logger = logging.getLogger("django.security.django_bff")


def _never_called(request: HttpRequest) -> HttpResponseBase:  # pragma: no cover - process_view() never calls it
    raise AssertionError("CsrfViewMiddleware.process_view() called its get_response or view")


def check_antiforgery(request: HttpRequest) -> None:
    """Raise :class:`AntiforgeryRequired` unless the request carries the anti-forgery header.

    A cross-site page cannot send a custom header without a CORS preflight, which
    the BFF never grants, so its presence proves the call came from our own app.
    """
    name = bff_settings.ANTIFORGERY_HEADER
    if request.headers.get(name) != bff_settings.ANTIFORGERY_VALUE:
        security_logger.info(
            "BFF API call without the %s header refused: %s %r", name, request.method, request.path[:200]
        )
        raise AntiforgeryRequired(f"the {name} header is required")


def check_csrf_header(request: HttpRequest) -> None:
    """Django's CSRF check, with the token from its header (``X-CSRFToken``), never from the body.

    For routes that opt out of the anti-forgery header. The body is what the proxy
    forwards, so it must not be parsed here: the check runs as for a PUT, whose
    token Django only looks for in the header.
    """
    from django.middleware.csrf import CsrfViewMiddleware

    method = request.method
    if method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return
    request.method = "PUT" if method == "POST" else method
    try:
        # process_view() calls neither get_response nor the view: only its refusal counts.
        refusal = CsrfViewMiddleware(_never_called).process_view(request, _never_called, (), {})
    finally:
        request.method = method
    if refusal is not None:
        raise CsrfFailed("CSRF token missing or incorrect")
