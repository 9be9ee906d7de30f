"""The example project in a real browser: Debian's Chromium, driven by Playwright.

The README's demo command (``bash scripts/demo``) is started in the background
on a free port with its own data directory, and its printed URL is polled, as a
new user would open it. Then the browser logs in through the demo identity
provider's login form, calls the user-token and the client-token routes, waits
past the access token's lifetime and calls again (the BFF refreshes the token
on the way), logs out, and sees both API calls answer 401. A screenshot of each
step is taken; ``BFF_UPDATE_SCREENSHOTS=1`` writes them over the committed ones
in ``tests/e2e/screenshots/`` (they show the demo's panels). Logging in again
afterwards asks for the password: the provider's session ended with the BFF's.

No access or refresh token may reach the browser: the page, its cookies and its
storage are searched for every token the identity provider issued. The page's
own panel says the same, computed: the cookies it reports are checked against
what the browser stored, its storage count is zero, its search of the responses
it received finds none of the tokens the BFF got. The refresh shows as the
server's ``token_refreshed`` event, the log reads oldest first and outlives the
logout, and the identity token goes to the provider in a form's body
(``BFF["LOGOUT_METHOD"] = "post"``): no URL the browser requested holds it.

The page's live panel (a WebSocket to the BFF, proxied to the demo API's with
the user's token; the demo runs under uvicorn with ``BFFApplication``) is
refused before the login, receives the API's events naming the user after it,
gets a message echoed, carries no issued token in any frame Playwright saw, and
is closed with 1008 by a logout in another tab (screenshots ``live-*.png``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.demo import CHROMIUM_ARGS, Demo, chromium, handshake_status, run_demo

#: A real browser and the demo's processes (its identity provider is django-oauth-toolkit, in the demo).
pytestmark = pytest.mark.integration

#: Where the screenshots go: a directory of this run's, or with BFF_UPDATE_SCREENSHOTS=1 the committed
#: ones in tests/e2e/screenshots/ (so that a test run leaves the working tree as it was).
SCREENSHOTS = (
    Path(__file__).resolve().parent / "screenshots"
    if os.environ.get("BFF_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="bff-e2e-screenshots-"))
)
#: Short access tokens, so the test can wait past one.
TOKEN_SECONDS = 8


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``bash scripts/demo`` in the background, as the README tells a new user to run it."""
    with run_demo(tmp_path_factory.mktemp("demo-data"), token_seconds=TOKEN_SECONDS) as running:
        yield running


def test_the_demo_command_serves_the_app_the_provider_and_the_api(demo: Demo) -> None:
    assert "log in as demo / demo" in "\n".join(demo.output)
    assert "<title>django_bff demo</title>" in requests.get(demo.url, timeout=10).text
    port = demo.url.rsplit(":", 1)[1].strip("/")
    discovery = requests.get(f"http://localhost:{port}/o/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == f"http://localhost:{port}/o"
    assert "S256" in discovery.get("code_challenge_methods_supported", ["S256"])
    # The demo API refuses calls without a valid token.
    refused = requests.get(f"http://localhost:{port}/demo-api/user-data", timeout=10)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    bogus = requests.get(
        f"http://localhost:{port}/demo-api/user-data", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert bogus.status_code == 401
    # The BFF's endpoints are there, behind the anti-forgery header.
    assert requests.get(demo.url + "bff/user", timeout=10).status_code == 401
    assert requests.get(demo.url + "bff/user", headers={"X-CSRF": "1"}, timeout=10).json() == {
        "error": "not_authenticated"
    }


class Steps:
    """The page, and a numbered screenshot per step (``prefix``: a test's own series)."""

    def __init__(self, page: Any, prefix: str = "") -> None:
        self.page = page
        self.prefix = prefix
        self.number = 0
        self.pages: list[str] = []
        SCREENSHOTS.mkdir(exist_ok=True)
        for old in SCREENSHOTS.glob(f"{prefix}[0-9]*.png"):
            old.unlink()

    def shot(self, name: str, of: str | None = None) -> None:
        """The whole page, or the element of test id ``of``."""
        self.number += 1
        path = str(SCREENSHOTS / f"{self.prefix}{self.number:02d}-{name}.png")
        if of is None:
            self.page.screenshot(path=path, full_page=True)
        else:
            self.page.get_by_test_id(of).screenshot(path=path)
        self.pages.append(self.page.content())

    def result(self, test_id: str, status: int) -> dict[str, Any]:
        """Click nothing; wait until the result box shows ``status`` and return its JSON."""
        box = self.page.get_by_test_id(test_id)
        self.page.wait_for_selector(f'[data-testid="{test_id}"][data-status="{status}"]', timeout=20_000)
        text = box.inner_text()
        return dict(json.loads(text.split("\n", 1)[1]))


JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


@contextlib.contextmanager
def chromium_page(prefix: str = "") -> Iterator[tuple[Any, Any, Steps]]:
    """Debian's Chromium with one page at the screenshots' size: its context, the page, and its ``Steps``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(20_000)
            yield context, page, Steps(page, prefix)
        finally:
            browser.close()


def check_what_the_browser_holds(page: Any, context: Any, tokens_at_least: int) -> None:
    """The page's panel, checked against what the browser itself says."""
    scan = page.get_by_test_id("token-scan")
    page.wait_for_function(
        f"Number(document.getElementById('token-scan').dataset.known) >= {tokens_at_least}", timeout=20_000
    )
    assert scan.get_attribute("data-found") == "0" and scan.get_attribute("data-jwts") == "0", scan.inner_text()
    assert page.get_by_test_id("storage").get_attribute("data-empty") == "true"
    # The session cookie as the panel reports it (from the Set-Cookie the server sent) is what the browser stored.
    row = page.locator('[data-testid="cookies"] tr[data-name="sessionid"]')
    stored = next(c for c in context.cookies() if c["name"] == "sessionid" and c["domain"] == "127.0.0.1")
    assert row.get_attribute("data-readable") == "false"
    assert row.get_attribute("data-http-only") == "true" == str(stored["httpOnly"]).lower()
    assert row.get_attribute("data-same-site") == "Lax" == stored["sameSite"]
    assert row.get_attribute("data-secure") == str(stored["secure"]).lower()
    assert "sessionid=<" in row.inner_text() and stored["value"] not in row.inner_text()


def test_log_in_call_both_apis_refresh_log_out(demo: Demo) -> None:
    with chromium_page() as (context, page, steps):
        requested: list[Any] = []
        page.on("request", lambda request: requested.append(request))

        # 1. Anonymous.
        page.goto(demo.url)
        page.get_by_test_id("status").filter(has_text="Not signed in").wait_for()
        steps.shot("anonymous")

        # 2. Log in through the identity provider's form (on another host: localhost).
        page.get_by_test_id("login").click()
        page.wait_for_url(re.compile(r"^http://localhost:\d+/idp/login/"))
        page.get_by_label("User name").fill("demo")
        page.get_by_label("Password").fill("demo")
        steps.shot("identity-provider-login")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(demo.url)
        page.get_by_test_id("status").filter(has_text="Signed in as Demo User (demo@example.com)").wait_for()
        assert "bff:logout_url" in page.get_by_test_id("claims").inner_text()
        assert "Session ends in" in page.get_by_test_id("session-expires").inner_text()
        steps.shot("signed-in")
        check_what_the_browser_holds(page, context, tokens_at_least=3)
        page.get_by_test_id("holds").scroll_into_view_if_needed()
        steps.shot("what-the-browser-holds")

        # 3. The user-token route and the client-token route.
        page.get_by_test_id("call-user").click()
        first = steps.result("user-result", 200)
        assert first["user"] == "demo" and first["client"] == "bff"
        page.get_by_test_id("call-app").click()
        app = steps.result("app-result", 200)
        assert app["user"] is None and app["client"] == "bff-machine"
        steps.shot("both-apis")

        # 4. Past the access token's lifetime: the next call is answered, with a new token.
        time.sleep(TOKEN_SECONDS + 1)
        page.evaluate("document.getElementById('user-result').removeAttribute('data-status')")
        page.get_by_test_id("call-user").click()
        second = steps.result("user-result", 200)
        assert second["user"] == "demo"
        assert second["token_id"] != first["token_id"], "the BFF should have refreshed the access token"
        # The refresh is the server's event (django_bff's token_refreshed signal), not an inference.
        page.get_by_test_id("log").filter(has_text="server: token_refreshed").wait_for()
        check_what_the_browser_holds(page, context, tokens_at_least=5)
        steps.shot("after-refresh")

        # 5. Log out: through the provider's end-session endpoint and back.
        with page.expect_request(lambda request: "/o/logout/" in request.url):
            page.get_by_test_id("logout").click()
        page.wait_for_url(demo.url)
        page.get_by_test_id("status").filter(has_text="Not signed in").wait_for()
        # The log outlived the logout, oldest first: login, refresh, logout, the page back.
        page.wait_for_function(
            "[...document.querySelectorAll('#log li')].at(-1)?.textContent.includes('page loaded: Not signed in')"
        )
        lines = page.get_by_test_id("log").locator("li").all_inner_texts()
        order = [
            "server: token_response_received",
            "page: GET /api/user/user-data",
            "server: token_refreshed",
            "page: log out",
            "server: user_logged_out",
            "page: page loaded: Not signed in",
        ]
        at = 0
        for want in order:  # each after the one before
            at = next((i for i, line in enumerate(lines) if i >= at and want in line), -1)
            assert at >= 0, f"{want!r} not in order in {lines}"
        # The identity token went to the provider in a POST's body; no URL requested holds it.
        [end_session] = [r for r in requested if "/o/logout/" in r.url]
        assert end_session.method == "POST" and "id_token_hint=" in (end_session.post_data or "")
        assert not [r.url for r in requested if "id_token_hint" in r.url or JWT.search(r.url)]
        steps.shot("signed-out")

        # 6. Both routes now answer 401.
        for kind in ("user", "app"):
            page.evaluate(f"document.getElementById('{kind}-result').removeAttribute('data-status')")
            page.get_by_test_id(f"call-{kind}").click()
            assert steps.result(f"{kind}-result", 401) == {"error": "not_authenticated"}
        steps.shot("apis-refused")

        # The provider's session ended too: logging in again asks for the password.
        page.get_by_test_id("login").click()
        page.wait_for_url(re.compile(r"^http://localhost:\d+/idp/login/"))

        # A login that failed comes back with ?error=: the page says so.
        page.goto(demo.url + "?error=access_denied")
        page.get_by_test_id("status").filter(has_text="the login came back with error=access_denied").wait_for()

        # No token ever reached the browser: not in a page, a URL, a cookie or storage.
        tokens = demo.issued_tokens()
        assert not [t for t in tokens for r in requested if t in r.url]
        assert len(tokens) >= 2
        storage = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
        cookies = context.cookies()
        assert {c["name"] for c in cookies} <= {"sessionid", "csrftoken"}
        seen = "\n".join([*steps.pages, storage, *(c["value"] for c in cookies)])
        assert not [t for t in tokens if t in seen]
    assert sorted(p.name for p in SCREENSHOTS.glob("[0-9]*.png")) == [
        "01-anonymous.png",
        "02-identity-provider-login.png",
        "03-signed-in.png",
        "04-what-the-browser-holds.png",
        "05-both-apis.png",
        "06-after-refresh.png",
        "07-signed-out.png",
        "08-apis-refused.png",
    ]


def test_the_live_panel_a_websocket_through_the_bff(demo: Demo) -> None:
    """The page's live panel: a WebSocket to the BFF, proxied to the demo API's with the user's token.

    Refused before the login; after it, the API's events name the user and a
    message sent comes back; no frame holds a token the provider issued; a
    logout in another tab closes the socket with 1008, and the panel says so.
    """
    app, api = f"ws://127.0.0.1:{demo.port}/api/live/", f"ws://localhost:{demo.port}/demo-api/live"
    # What a browser is not told: why a handshake was refused.
    assert handshake_status(app, origin=f"http://127.0.0.1:{demo.port}") == 401  # no session
    assert handshake_status(app, origin=f"http://localhost:{demo.port}") == 403  # another origin
    assert handshake_status(api) == 403  # the API itself, without a token

    with chromium_page("live-") as (context, page, steps):
        frames: list[str | bytes] = []
        sockets: list[Any] = []

        def watch(socket: Any) -> None:
            sockets.append(socket)
            socket.on("framesent", lambda payload: frames.append(payload))
            socket.on("framereceived", lambda payload: frames.append(payload))

        page.on("websocket", watch)
        state = page.get_by_test_id("live-state")
        messages = page.get_by_test_id("live-messages")

        def closed(code: int | None = None) -> None:
            code_attr = f'[data-code="{code}"]' if code is not None else ""
            page.wait_for_selector(f'[data-testid="live-state"][data-state="closed"]{code_attr}')

        # 1. Anonymous: the BFF refuses the handshake (the browser sees a close, 1006, never an open).
        page.goto(demo.url)
        page.get_by_test_id("status").filter(has_text="Not signed in").wait_for()
        page.get_by_test_id("live-connect").click()
        closed()
        assert state.get_attribute("data-opened") == "false"
        assert "Refused" in state.inner_text()
        assert len(sockets) == 1 and not frames
        steps.shot("refused", of="live")

        # 2. Log in, connect: the API's events, every second, name the user.
        page.get_by_test_id("login").click()
        page.wait_for_url(re.compile(r"^http://localhost:\d+/idp/login/"))
        page.get_by_label("User name").fill("demo")
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(demo.url)
        page.get_by_test_id("status").filter(has_text="Signed in as Demo User").wait_for()
        page.get_by_test_id("live-connect").click()
        page.wait_for_selector('[data-testid="live-state"][data-state="open"]')
        messages.locator("li", has_text='"count": 2').wait_for()
        ticks = [json.loads(f) for f in frames if isinstance(f, str) and '"tick"' in f]
        assert [t["count"] for t in ticks[:2]] == [1, 2] and {t["user"] for t in ticks} == {"demo"}
        # The API saw a token the provider issued: its digest is one of theirs.
        tokens = demo.issued_tokens()  # now: the logout revokes (deletes) some of them
        digests = {hashlib.sha256(t.encode()).hexdigest()[:12] for t in tokens}
        assert ticks[0]["token_id"] in digests

        # 3. A message goes up and comes back.
        page.get_by_test_id("live-text").fill("hello from Chromium")
        page.get_by_test_id("live-send").click()
        messages.locator("li.received", has_text='"echo", "text": "hello from Chromium"').wait_for()
        assert "hello from Chromium" in frames
        steps.shot("open")

        # 4. Disconnect (1000), and connect again.
        page.get_by_test_id("live-disconnect").click()
        closed(1000)
        assert state.get_attribute("data-reason") == "the page disconnected"
        page.get_by_test_id("live-connect").click()
        page.wait_for_selector('[data-testid="live-state"][data-state="open"]')
        assert len(sockets) == 3

        # 5. Log out in another tab: within the session check's 2 s, the BFF closes this socket with 1008.
        other = context.new_page()
        other.goto(demo.url)
        other.get_by_test_id("logout").click()
        other.wait_for_url(demo.url)
        other.get_by_test_id("status").filter(has_text="Not signed in").wait_for()
        closed(1008)
        assert state.get_attribute("data-reason") == "session_ended"
        assert "Closed with code 1008" in state.inner_text()
        assert sockets[-1].is_closed()
        # The page asked who is logged in again, and searched what it received, the messages too.
        page.get_by_test_id("status").filter(has_text="Not signed in").wait_for()
        page.get_by_test_id("log").filter(has_text="page: live socket closed: 1008").wait_for()
        check_what_the_browser_holds(page, context, tokens_at_least=3)
        steps.shot("closed-by-logout", of="live")
        steps.shot("signed-out")

        # 6. And a new socket is refused again.
        page.get_by_test_id("live-connect").click()
        page.wait_for_selector('[data-testid="live-state"][data-opened="false"]')

        # No frame, sent or received, holds a token the provider issued, nor anything shaped like a JWT.
        tokens |= demo.issued_tokens()
        assert len(tokens) >= 2
        text = "\n".join(f if isinstance(f, str) else f.decode("utf-8", "replace") for f in frames)
        assert len(frames) > 5 and not JWT.search(text)
        assert not [t for t in tokens if t in text or any(t in p for p in steps.pages)]
    assert sorted(p.name for p in SCREENSHOTS.glob("live-*.png")) == [
        "live-01-refused.png",
        "live-02-open.png",
        "live-03-closed-by-logout.png",
        "live-04-signed-out.png",
    ]
