"""A test middleware that records every response the test process answers, for the leak guard.

``tests/conftest.py``'s ``leak_guard`` scans what is recorded here (status line,
headers, and bodies that are not streamed) for the token values a test has seen
and for anything shaped like a JWT.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.http import HttpRequest
from django.http.response import HttpResponseBase

#: (request path, text) of each response since the last clear().
RECORDED: list[tuple[str, str]] = []


def clear() -> None:
    RECORDED.clear()


#: Anything shaped like a JWT: a leak whatever the test knows.
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def private_key_parts(private_jwk: str) -> list[str]:
    """The private members of a JWK (``d``, and RSA's primes): never in a log, a response, or at rest in clear."""
    jwk = json.loads(private_jwk)
    return [str(jwk[m]) for m in ("d", "p", "q", "dp", "dq", "qi", "k") if m in jwk]


class LeakGuard(logging.Handler):
    """Collects every log record of a test and the token values seen during it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.secrets: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def add(self, *values: str | None) -> None:
        self.secrets.update(v for v in values if v and len(v) >= 8)

    def add_token(self, token: Any) -> None:
        for name in ("access_token", "refresh_token", "identity_token"):
            self.add(getattr(token, name, None))
        self.add_key(getattr(token, "dpop_jwk", None))

    def add_key(self, private_jwk: str | None) -> None:
        """A DPoP key's private members (``d``...), which must never leave the BFF."""
        if private_jwk:
            self.add(*private_key_parts(private_jwk))

    def leaks(self) -> list[str]:
        """Each log record and recorded response that shows a token value or a JWT."""
        found = []
        for record in self.records:
            text = record.getMessage() + (self.format(record) if record.exc_info else "")
            if JWT_RE.search(text) or any(secret in text for secret in self.secrets):
                found.append(f"{record.name}: {text[:200]}")
        for path, text in RECORDED:
            if JWT_RE.search(text) or any(secret in text for secret in self.secrets):
                found.append(f"response to {path}: {text[:200]}")
        return found


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


#: The field of the page /bff/logout answers with BFF["LOGOUT_METHOD"] "post": the same documented exception,
#: in a form body instead of a URL.
_ID_TOKEN_HINT_FIELD = re.compile(r'(<input type="hidden" name="id_token_hint" value=")[^"]*(">)')


class ResponseRecorder:
    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        response = self.get_response(request)
        body = "" if getattr(response, "streaming", False) else response.content.decode("utf-8", "replace")
        body = _ID_TOKEN_HINT_FIELD.sub(r"\1(id_token_hint)\2", body)
        RECORDED.append((request.path, f"{response.status_code}\n{_headers(response)}\n\n{body}"))
        return response
