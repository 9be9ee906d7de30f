"""Mutual TLS to the token service (RFC 8705 tls_client_auth), on loopback for real."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from django_bff.token_manager import get_client_access_token
from django_bff.tokens import TokenError
from tests.support.tls import make_pki


class TokenEndpoint:
    """An HTTPS token endpoint that requires a client certificate from the test CA."""

    def __init__(self, pki: dict[str, str]) -> None:
        self.seen: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                peer = self.connection.getpeercert()  # type: ignore[attr-defined]
                subject = dict(item[0] for item in peer["subject"])
                endpoint.seen.append(
                    {"form": form, "cn": subject.get("commonName"), "auth": self.headers.get("Authorization")}
                )
                body = json.dumps(
                    {"access_token": "mtls-token-MMMMMMMM", "expires_in": 300, "token_type": "Bearer"}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki["server.pem"], pki["server.key"])
        context.load_verify_locations(pki["ca.pem"])
        context.verify_mode = ssl.CERT_REQUIRED
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}/token"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pki(tmp_path: Any) -> dict[str, str]:
    return make_pki(tmp_path)


@pytest.fixture
def endpoint(pki: dict[str, str]) -> Iterator[TokenEndpoint]:
    server = TokenEndpoint(pki)
    yield server
    server.stop()


def configure(settings: Any, pki: dict[str, str], endpoint: TokenEndpoint, cert: Any) -> None:
    settings.BFF = {
        **settings.BFF,
        "BACKCHANNEL_VERIFY": pki["ca.pem"],
        "BACKCHANNEL_CLIENT_CERT": cert,
        "CLIENTS": {
            "mtls": {"CLIENT_ID": "bff-mtls", "AUTH_METHOD": "tls_client_auth", "TOKEN_ENDPOINT": endpoint.url}
        },
    }


def test_the_client_certificate_authenticates(
    settings: Any, pki: dict[str, str], endpoint: TokenEndpoint, monkeypatch: Any
) -> None:
    # requests would let an environment CA bundle replace BFF["BACKCHANNEL_VERIFY"]: it must not.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pki["client.pem"])
    monkeypatch.setenv("CURL_CA_BUNDLE", pki["client.pem"])
    configure(settings, pki, endpoint, (pki["client.pem"], pki["client.key"]))
    assert get_client_access_token("mtls").access_token == "mtls-token-MMMMMMMM"
    [seen] = endpoint.seen
    assert seen["cn"] == "bff-mtls" and seen["auth"] is None
    assert seen["form"] == {"grant_type": ["client_credentials"], "client_id": ["bff-mtls"]}


def test_without_the_certificate_the_handshake_fails(
    settings: Any, pki: dict[str, str], endpoint: TokenEndpoint
) -> None:
    configure(settings, pki, endpoint, None)
    settings.BFF = {**settings.BFF, "CLIENTS": {"mtls": {**settings.BFF["CLIENTS"]["mtls"]}}}
    result = get_client_access_token("mtls")
    assert result.error is TokenError.TOKEN_SERVICE_UNAVAILABLE
    assert endpoint.seen == []


def test_checks(settings: Any, pki: dict[str, str], endpoint: TokenEndpoint) -> None:
    from django_bff.checks import check_settings

    configure(settings, pki, endpoint, ("/no/such/cert.pem", pki["client.key"]))
    assert "django_bff.E030" in {m.id for m in check_settings()}
    configure(settings, pki, endpoint, None)
    assert "django_bff.E031" in {m.id for m in check_settings()}
    configure(settings, pki, endpoint, pki["client.pem"])
    assert not {m.id for m in check_settings()} - {"django_bff.W005", "django_bff.W010"}
