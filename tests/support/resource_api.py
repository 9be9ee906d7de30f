"""A JWT-protected resource API for tests, bearer and DPoP (RFC 9449).

Every request (any method, any path) must carry an access token signed with
RS256 by a key from ``jwks_uri`` (or by ``key``, for tokens a test mints), with
the expected ``iss`` and ``aud`` and not expired. Valid requests get 200 and a
JSON echo; anything else gets 401 with a ``WWW-Authenticate`` challenge. Every
request is recorded in :attr:`ResourceAPI.requests`.

A token whose claims hold ``cnf.jkt`` is DPoP-bound: it is accepted only as
``Authorization: DPoP <token>`` with one ``DPoP`` proof that checks out as an
API must check it (RFC 9449 section 4.3): ``typ`` ``dpop+jwt``, an asymmetric
``alg``, a public ``jwk`` in the header and the signature by it, ``htm`` and
``htu`` (without query) naming this request, ``iat`` within
:attr:`ResourceAPI.IAT_WINDOW` seconds of :mod:`django_bff.clock`'s time, a
``jti`` never seen before, ``ath`` the token's hash, and the key's thumbprint
equal to the token's ``cnf.jkt``. A bad proof: 401 ``invalid_dpop_proof``.

:meth:`ResourceAPI.demand_nonces` makes it demand a server nonce (section 9):
a proof without the current nonce is refused with 401 ``use_dpop_nonce`` and
the nonce in ``DPoP-Nonce``; with ``rotate_every`` it moves to a new nonce
after that many accepted calls, announced in the ``DPoP-Nonce`` of the 200
answer; the previous nonce is refused from then on.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import jwt

from django_bff.clock import clock
from django_bff.dpop import jwk_thumbprint

_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
_ASYMMETRIC = ["ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class ResourceAPI:
    #: How far a proof's ``iat`` may be from the API's time, in seconds.
    IAT_WINDOW = 60

    def __init__(self, jwks_uri: str | None, issuer: str, audience: str, *, key: Any = None) -> None:
        self.jwks_uri = jwks_uri
        self.issuer = issuer
        self.audience = audience
        self._key = key
        self._jwks_client = jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=300) if jwks_uri else None
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._reject_remaining = 0
        self._seen_jti: set[str] = set()
        self._nonces = False
        self._rotate_every: int | None = None
        self._accepted_with_nonce = 0
        self._nonce_counter = itertools.count(1)
        self.nonce = ""
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
        or None), ``claims`` (decoded claims or None), ``status`` and
        ``dpop_error`` (why a DPoP proof was refused, or None).
        """
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def nonce_refusals(self) -> int:
        """How many recorded requests were refused with ``use_dpop_nonce``."""
        return sum(1 for r in self.requests if r.get("dpop_error") == "use_dpop_nonce")

    def demand_nonces(self, rotate_every: int | None = None) -> None:
        """Demand a DPoP nonce from now on; with ``rotate_every``, a new one after that many accepted calls."""
        with self._lock:
            self._nonces = True
            self._rotate_every = rotate_every
            self._accepted_with_nonce = 0
            self.nonce = f"api-nonce-{next(self._nonce_counter)}"

    def rotate_nonce(self) -> str:
        """Move to a new nonce now (the old one is refused from now on)."""
        with self._lock:
            self.nonce = f"api-nonce-{next(self._nonce_counter)}"
            return self.nonce

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
        """Validate an access token JWT; raises ``jwt.PyJWTError`` if invalid."""
        if self._jwks_client is not None:
            key = self._jwks_client.get_signing_key_from_jwt(token).key
        else:
            key = self._key.public_key() if hasattr(self._key, "public_key") else self._key
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iss", "aud"]},
        )
        return claims

    def check_proof(self, proofs: list[str], method: str, url: str, token: str, claims: dict[str, Any]) -> str:
        """Why a DPoP proof is refused (``invalid_dpop_proof``, ``use_dpop_nonce``), or "" when it is good."""
        if len(proofs) != 1:
            return "invalid_dpop_proof"
        try:
            header = jwt.get_unverified_header(proofs[0])
            public = header.get("jwk")
            if header.get("typ") != "dpop+jwt" or header.get("alg") not in _ASYMMETRIC or not isinstance(public, dict):
                return "invalid_dpop_proof"
            if _PRIVATE_MEMBERS & set(public):
                return "invalid_dpop_proof"
            key = jwt.PyJWK(public, algorithm=header["alg"])
            proof = jwt.decode(
                proofs[0], key.key, algorithms=[header["alg"]], options={"require": ["jti", "htm", "htu", "iat"]}
            )
            thumbprint = jwk_thumbprint(json.dumps(public))
        except (jwt.PyJWTError, ValueError, KeyError, TypeError):
            return "invalid_dpop_proof"
        ath = _b64(hashlib.sha256(token.encode("ascii")).digest())
        now = clock.time()
        if (
            proof["htm"] != method
            or proof["htu"] != url
            or not isinstance(proof["iat"], int)
            or abs(proof["iat"] - now) > self.IAT_WINDOW
            or proof.get("ath") != ath
            or (claims.get("cnf") or {}).get("jkt") != thumbprint
        ):
            return "invalid_dpop_proof"
        with self._lock:
            if proof["jti"] in self._seen_jti:
                return "invalid_dpop_proof"
            self._seen_jti.add(proof["jti"])
            if self._nonces and proof.get("nonce") != self.nonce:
                return "use_dpop_nonce"
        return ""

    def _after_accepted(self) -> str | None:
        """Count an accepted call; the new nonce to announce when it is time to rotate."""
        with self._lock:
            if not self._nonces or self._rotate_every is None:
                return None
            self._accepted_with_nonce += 1
            if self._accepted_with_nonce % self._rotate_every:
                return None
            self.nonce = f"api-nonce-{next(self._nonce_counter)}"
            return self.nonce


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
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    body += self.rfile.read(size)
                    self.rfile.readline()
                self.rfile.readline()

            token: str | None = None
            authorization = self.headers.get("Authorization", "")
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() in ("bearer", "dpop") and credentials.strip():
                token = credentials.strip()
            is_dpop = scheme.lower() == "dpop"

            claims: dict[str, Any] | None = None
            if token is not None:
                try:
                    claims = api.verify(token)
                except (jwt.PyJWTError, ValueError):
                    claims = None
            dpop_error = ""
            bound = claims is not None and bool((claims.get("cnf") or {}).get("jkt"))
            if claims is not None and token is not None and (bound or is_dpop):
                host = self.headers.get("Host", "")
                if not (bound and is_dpop):  # a bound token as Bearer, or DPoP with an unbound token
                    claims = None
                else:
                    proofs = self.headers.get_all("DPoP") or []
                    dpop_error = api.check_proof(proofs, self.command, f"http://{host}{split.path}", token, claims)
            rejected = api._take_rejection()
            status = 200 if claims is not None and not dpop_error and not rejected else 401
            announced = api._after_accepted() if status == 200 and is_dpop else None

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
                    "dpop_error": dpop_error or None,
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
                if announced:
                    self.send_header("DPoP-Nonce", announced)
            elif dpop_error:
                payload = json.dumps({"error": dpop_error}).encode()
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'DPoP error="{dpop_error}"')
                if dpop_error == "use_dpop_nonce":
                    self.send_header("DPoP-Nonce", api.nonce)
            else:
                payload = json.dumps({"error": "invalid_token"}).encode()
                self.send_response(401)
                scheme_name = "DPoP" if is_dpop else "Bearer"
                self.send_header("WWW-Authenticate", f'{scheme_name} error="invalid_token"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return Handler
