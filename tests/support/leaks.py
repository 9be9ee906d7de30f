"""A test middleware that records every response the test process answers, for the leak guard.

``tests/conftest.py``'s ``leak_guard`` scans what is recorded here (status line,
headers, and bodies that are not streamed) for the token values a test has seen
and for anything shaped like a JWT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.http import HttpRequest
from django.http.response import HttpResponseBase

#: (request path, text) of each response since the last clear().
RECORDED: list[tuple[str, str]] = []


def clear() -> None:
    RECORDED.clear()


def _headers(response: HttpResponseBase) -> str:
    lines = []
    for name, value in response.items():
        if name.lower() == "location":
            # /bff/logout hands the provider the identity token as id_token_hint, as RP-initiated
            # logout requires (docs/endpoints.rst): the one documented exception.
            parts = urlsplit(value)
            query = [(k, v) for k, v in parse_qsl(parts.query) if k != "id_token_hint"]
            value = f"{parts.scheme}://{parts.netloc}{parts.path}?{query}"
        lines.append(f"{name}: {value}")
    lines.extend(f"Set-Cookie: {morsel.OutputString()}" for morsel in response.cookies.values())
    return "\n".join(lines)


class ResponseRecorder:
    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        response = self.get_response(request)
        body = "" if getattr(response, "streaming", False) else response.content.decode("utf-8", "replace")
        RECORDED.append((request.path, f"{response.status_code}\n{_headers(response)}\n\n{body}"))
        return response
