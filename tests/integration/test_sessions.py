"""Session endpoints against the real identity provider and real worker processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings

from tests.support.idp import IdentityProvider, complete_login, end_provider_session
from tests.support.redis_server import free_port
from tests.support.servers import Server, serve

pytestmark = [pytest.mark.integration, pytest.mark.database, pytest.mark.django_db(transaction=True)]

XCSRF = {"X-CSRF": "1"}


class Relay:
    """Passes the provider's back-channel logout posts on to server B, keeping a copy of each body."""

    def __init__(self, target_port: int) -> None:
        self.bodies: list[bytes] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                relay.bodies.append(body)
                answer = requests.post(
                    f"http://127.0.0.1:{target_port}{self.path}",
                    data=body,
                    headers={"Content-Type": self.headers["Content-Type"]},
                    timeout=10,
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def two_servers(redis_cache: str, transactional_db: Any) -> Iterator[tuple[IdentityProvider, Server, Server, Relay]]:
    """A provider whose back-channel logout goes to server B; users log in at server A.

    A and B are separate gunicorn processes sharing the database (sessions, the
    session index) and Redis (locks, the logout-token jti cache), as two hosts
    behind a load balancer would. The provider's posts pass through a relay
    that keeps a copy, so a test can replay a real logout token.
    """
    port_b = free_port()
    relay = Relay(port_b)
    provider = IdentityProvider(access_token_ttl=120, backchannel_logout_uri=f"{relay.url}/bff/backchannel")
    provider.start()
    env = {
        "BFF_TEST_DB": django_settings.DATABASES["default"]["NAME"],
        "BFF_TEST_REDIS_URL": redis_cache,
        "BFF_TEST_ISSUER": provider.issuer,
    }
    try:
        with serve("gunicorn", env) as a, serve("gunicorn", env, port=port_b) as b:
            yield provider, a, b, relay
    finally:
        provider.stop()
        relay.server.shutdown()
        relay.server.server_close()


def log_in(server: Server, browser: requests.Session) -> None:
    start = browser.get(server.url + "/bff/login?returnUrl=/home", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    final = complete_login(start.headers["Location"], server.url + "/oidc/callback/", browser=browser)
    back = browser.get(final, allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"] == "/home", (back.status_code, back.text[:300])


def user(server: Server, browser: requests.Session) -> requests.Response:
    return browser.get(server.url + "/bff/user?slide=false", headers=XCSRF, timeout=10)


def test_the_provider_ends_a_session_living_in_another_process(two_servers: Any, leak_guard: Any) -> None:
    from django_bff.sessions import list_sessions

    provider, a, b, relay = two_servers
    browser = requests.Session()
    log_in(a, browser)
    claims = {item["type"]: item["value"] for item in user(a, browser).json()}
    [info] = list_sessions(sub=claims["sub"])
    assert claims["bff:logout_url"].endswith(f"sid={info.sid}")

    other = requests.Session()  # the same user in a second browser: a second provider session
    log_in(a, other)
    assert len(list_sessions(sub=claims["sub"])) == 2

    response = end_provider_session(browser, provider.end_session_endpoint)
    assert response.status_code in (302, 303), response.text[:300]
    deadline = time.monotonic() + 15
    while user(a, browser).status_code != 401:
        assert time.monotonic() < deadline, "the back-channel logout never ended the session"
        time.sleep(0.2)
    assert user(a, browser).json() == {"error": "not_authenticated"}
    # Only the session of that provider session (its sid) ended.
    assert user(a, other).status_code == 200
    [left] = list_sessions(sub=claims["sub"])
    assert left.sid != info.sid

    # The provider's real logout token, sent again: refused, on either server.
    [body] = relay.bodies
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for server in (b, a):
        replay = requests.post(server.url + "/bff/backchannel", data=body, headers=form, timeout=10)
        assert replay.status_code == 400 and replay.json() == {"error": "invalid_logout_token"}
    assert user(a, other).status_code == 200


def test_the_revoke_command_ends_a_session_and_revokes_its_grant(two_servers: Any, settings: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    from tests.support.login import point_at

    provider, a, _, _ = two_servers
    point_at(settings, provider)
    provider.reset_stats()
    browser = requests.Session()
    log_in(a, browser)
    sub = next(item["value"] for item in user(a, browser).json() if item["type"] == "sub")
    out = StringIO()
    call_command("bff_sessions", "revoke", "--sub", sub, stdout=out)
    assert out.getvalue().strip() == "Revoked 1 session(s)."
    assert provider.stats()["revocations"] == 1
    assert user(a, browser).status_code == 401
