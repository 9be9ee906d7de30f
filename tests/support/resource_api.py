"""A JWT-protected resource API for tests.

Every request (any method, any path) must carry ``Authorization: Bearer <jwt>``
signed with RS256 by a key from ``jwks_uri``, with the expected ``iss`` and
``aud`` and not expired. Valid requests get 200 and a JSON echo; anything else
gets 401 with ``WWW-Authenticate: Bearer error="invalid_token"``. Every request
is recorded in :attr:`ResourceAPI.requests`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import jwt


class ResourceAPI:
    def __init__(self, jwks_uri: str, issuer: str, audience: str) -> None:
        self.jwks_uri = jwks_uri
        self.issuer = issuer
        self.audience = audience
        self._jwks_client = jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=300)
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._reject_remaining = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("resource API already running")
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="resource-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:41234``."""
        if self._server is None:
            raise RuntimeError("resource API is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- recorded requests ---------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of the recorded requests, oldest first.

        Each is a dict with ``method``, ``path``, ``query`` (raw query string),
        ``headers`` (dict), ``body`` (bytes), ``token`` (the raw bearer token
        or None), ``claims`` (decoded claims or None) and ``status``.
        """
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def reject_next(self, n: int = 1) -> None:
        """Answer the next ``n`` requests with 401 whatever their token."""
        with self._lock:
            self._reject_remaining = n

    # -- internals -------------------------------------------------------------

    def _take_rejection(self) -> bool:
        with self._lock:
            if self._reject_remaining > 0:
                self._reject_remaining -= 1
                return True
            return False

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(entry)

    def verify(self, token: str) -> dict[str, Any]:
        """Validate a bearer JWT; raises ``jwt.PyJWTError`` if invalid."""
        signing_key = self._jwks_client.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iss", "aud"]},
        )
        return claims


def _make_handler(api: ResourceAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's
        # algorithm and the client's delayed ACK add 40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""

            token: str | None = None
            authorization = self.headers.get("Authorization", "")
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                token = credentials.strip()

            claims: dict[str, Any] | None = None
            if token is not None:
                try:
                    claims = api.verify(token)
                except (jwt.PyJWTError, ValueError):
                    claims = None
            rejected = api._take_rejection()
            status = 200 if claims is not None and not rejected else 401

            api._record(
                {
                    "method": self.command,
                    "path": split.path,
                    "query": split.query,
                    "headers": dict(self.headers.items()),
                    "body": body,
                    "token": token,
                    "claims": claims,
                    "status": status,
                }
            )

            if status == 200 and claims is not None:
                payload = json.dumps(
                    {
                        "sub": claims.get("sub"),
                        "path": split.path,
                        "method": self.command,
                        "query": split.query,
                        "client_id": claims.get("client_id"),
                    }
                ).encode()
                self.send_response(200)
            else:
                payload = json.dumps({"error": "invalid_token"}).encode()
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return Handler
