"""The one place where errors become HTTP answers for the browser.

In the data flow: the way back. Every entry point's errors become answers here.

Every error answer of a BFF endpoint is JSON ``{"error": "<code>"}`` with the
status of the error; transient ones carry ``Retry-After``. No message text, no
upstream body, no token.
"""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse

from django_bff.exceptions import BFFError

__all__ = ["error_response", "response_for", "no_store"]


def error_response(status: int, code: str, retry_after: int | None = None) -> JsonResponse:
    response = JsonResponse({"error": code}, status=status)
    response["Cache-Control"] = "no-store"
    if retry_after:
        response["Retry-After"] = str(int(retry_after))
    return response


def response_for(error: BFFError) -> JsonResponse:
    code = getattr(error, "error", None) if error.status_code in (401, 503) else None
    return error_response(error.status_code, code or error.default_code, getattr(error, "retry_after", None))


def no_store(response: HttpResponse) -> HttpResponse:
    """``response``, marked ``Cache-Control: no-store`` (every answer about the session or its tokens is)."""
    response["Cache-Control"] = "no-store"
    return response
