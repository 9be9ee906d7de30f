"""The quickstart, done as the page says, in a real browser (Debian's Chromium, driven by Playwright).

``django-admin startproject`` makes a new project in a temporary directory; the
quickstart's settings, ``urls.py``, page (``templates/index.html``) and browser
script (``static/bff.js``) are read from ``docs/quickstart.rst`` and applied to
it (``tests/support/quickstart.py``). The demo (``bash scripts/demo``) plays the
identity provider and the API: ``manage.py register_bff_client`` registers the
project with it, and its printed settings go below the quickstart's. Then the
project runs under ``runserver``, and the browser logs in, calls ``/bff/user``
and a proxied API, and logs out.

On the way, the docs' ``bff()`` is held to its rule: a remote API's own 401
(``invalid_token``: the provider no longer knows the token) is shown, not
answered with a login; the BFF's own ``not_authenticated`` (nobody logged in)
and ``session_expired`` (the provider refused the refresh) take the browser to
``/bff/login``, once; a page that a failed login sent back with ``?error=`` does not
go to the login again.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.support import quickstart
from tests.support.demo import CHROMIUM_ARGS, ROOT, Demo, background, chromium, run_demo, wait_until_served
from tests.support.redis_server import free_port

#: A real browser, the demo's processes and the new project's runserver.
pytestmark = pytest.mark.integration

#: The access tokens' lifetime; django_bff refreshes at half of it (REFRESH_BEFORE_EXPIRATION is 60 s).
TOKEN_SECONDS = 16
#: How long a page is watched for a navigation that must not come.
QUIET_MS = 2_500


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with run_demo(tmp_path_factory.mktemp("demo-data"), token_seconds=TOKEN_SECONDS) as running:
        yield running


@dataclass
class Registration:
    output: str
    secret: str
    settings: str


def register(demo: Demo, redirect_uri: str) -> Registration:
    """``manage.py register_bff_client`` in the example project, as the quickstart runs it."""
    done = subprocess.run(
        [sys.executable, "manage.py", "register_bff_client", "--redirect-uri", redirect_uri],
        cwd=ROOT / "example_project",
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    export = [line for line in done.stdout.splitlines() if line.startswith("export OIDC_RP_CLIENT_SECRET=")]
    assert len(export) == 1, done.stdout
    secret = shlex.split(export[0].split("=", 1)[1])[0]
    marker = "# At the end of settings.py, below the quickstart's settings:\n"
    assert marker in done.stdout, done.stdout
    return Registration(done.stdout, secret, done.stdout.split(marker, 1)[1])


@dataclass
class Site:
    url: str
    port: int
    registration: Registration
    output: collections.deque[str]


@pytest.fixture(scope="module")
def site(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A new ``startproject`` project with the quickstart applied, registered with the demo, under runserver."""
    port = free_port()
    registration = register(demo, f"http://127.0.0.1:{port}/oidc/callback/")
    project = quickstart.make_project(tmp_path_factory.mktemp("mysite"), extra_settings=registration.settings)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["OIDC_RP_CLIENT_SECRET"] = registration.secret
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput", "-v", "0"], ["check", "--fail-level", "WARNING"]):
        done = subprocess.run(manage + command, cwd=project, env=env, capture_output=True, text=True, timeout=120)
        # The one warning a development project gets: the local-memory cache (W005).
        assert done.returncode == 0 or "django_bff.W005" in done.stderr, done.stdout + done.stderr
        assert not re.search(r"\((?!django_bff\.W005)[\w.]+\.[EW]\d+\)", done.stderr), done.stderr
    runserver = [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"]
    with background(runserver, cwd=project, env=env) as (process, output):
        url = f"http://127.0.0.1:{port}/"
        wait_until_served(url, process, output)
        yield Site(url, port, registration, output)


def test_the_quickstart_shows_what_the_command_prints(demo: Demo, site: Site) -> None:
    """The sample output on the page is the command's, but for the ports and the secret."""
    printed = (
        site.registration.output.replace(f":{demo.port}", ":8000")
        .replace(f":{site.port}", ":8001")
        .replace(f"_{site.port}", "_8001")
        .replace(shlex.quote(site.registration.secret), "...")
    )
    assert printed.strip() + "\n" == quickstart.block("quickstart", "text", "# In your shell")


def test_the_project_serves_the_page_and_the_script(site: Site) -> None:
    page = requests.get(site.url, timeout=10)
    assert page.status_code == 200 and "<title>My app</title>" in page.text
    script = requests.get(site.url + "static/bff.js", timeout=10)
    assert script.status_code == 200 and "async function bff(" in script.text
    assert requests.get(site.url + "bff/user", headers={"X-CSRF": "1"}, timeout=10).json() == {
        "error": "not_authenticated"
    }


class Logins:
    """Counts the browser's requests to ``/bff/login``."""

    def __init__(self, page: Any, site: Site) -> None:
        self.count = 0
        page.on("request", self._seen)
        self.prefix = site.url + "bff/login"

    def wait_for(self, count: int, page: Any) -> None:
        for _ in range(200):
            if self.count >= count:
                return
            page.wait_for_timeout(100)
        pytest.fail(f"/bff/login was asked {self.count} times, not {count}")

    def _seen(self, request: Any) -> None:
        if request.url.startswith(self.prefix):
            self.count += 1


def call(page: Any, path: str, status: int) -> str:
    """Call ``path`` with the page's button (the docs' bff()) and return the answer's body once it shows ``status``."""
    page.evaluate("document.querySelector('#result').textContent = ''")
    page.locator("#path").fill(path)
    page.locator("#call").click()
    shown = page.wait_for_function(
        "(status) => { const t = document.querySelector('#result').textContent; return t.startsWith(status) && t; }",
        arg=f"{status}\n",
    )
    return str(shown.json_value()).split("\n", 1)[1]


def stays(page: Any, logins: Logins, count: int) -> None:
    """The page is still the same document after a while, and ``/bff/login`` was asked ``count`` times in all."""
    page.evaluate("window.stillHere = true")
    page.wait_for_timeout(QUIET_MS)
    assert page.evaluate("window.stillHere === true"), "the page navigated away"
    assert logins.count == count


def test_log_in_call_the_api_log_out(demo: Demo, site: Site) -> None:
    from playwright.sync_api import sync_playwright

    client_id = json.loads(re.search(r'OIDC_RP_CLIENT_ID = ("[^"]+")', site.registration.settings).group(1))  # type: ignore[union-attr]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(20_000)
            logins = Logins(page, site)

            # 1. Nobody is logged in: /bff/user answers 401 not_authenticated, and bff() goes to the login.
            page.goto(site.url)
            page.wait_for_url(re.compile(rf"^http://localhost:{demo.port}/idp/login/"))
            assert logins.count == 1
            page.get_by_label("User name").fill("demo")
            page.get_by_label("Password").fill("demo")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(site.url)
            signed_in = time.monotonic()
            page.locator("#user").filter(has_text="Signed in as Demo User").wait_for()

            # 2. /bff/user and a proxied API, through the docs' bff().
            me = page.evaluate("bff('/bff/user').then((r) => r.json())")
            claims = {c["type"]: c["value"] for c in me}
            assert claims["name"] == "Demo User" and claims["bff:logout_url"].startswith("/bff/logout?sid=")
            answer = json.loads(call(page, "/api/orders/user-data", 200))
            assert answer["user"] == "demo" and answer["client"] == client_id

            # 3. The API's own 401: the provider no longer takes the token the BFF still holds.
            demo.execute("update oauth2_provider_accesstoken set expires = '2000-01-01 00:00:00'")
            refused = json.loads(call(page, "/api/orders/user-data", 401))
            assert refused == {"error": "invalid_token"}
            stays(page, logins, 1)

            # 4. The BFF's own 401: the provider refuses the refresh (session_expired): one login, and back.
            demo.execute("update oauth2_provider_refreshtoken set revoked = CURRENT_TIMESTAMP")
            time.sleep(max(0.0, signed_in + TOKEN_SECONDS / 2 + 1 - time.monotonic()))  # the refresh is due
            answers: list[tuple[int, str]] = []

            def through(route: Any) -> None:  # the page navigates away: keep the answer on the way
                response = route.fetch()
                answers.append((response.status, response.text()))
                route.fulfill(response=response)

            page.route("**/api/orders/**", through)
            page.locator("#call").click()
            logins.wait_for(2, page)
            page.unroute("**/api/orders/**")
            assert answers == [(401, '{"error": "session_expired"}')]
            page.wait_for_url(site.url)  # the provider's session is alive: no password asked
            page.locator("#user").filter(has_text="Signed in as Demo User").wait_for()
            stays(page, logins, 2)
            assert json.loads(call(page, "/api/orders/user-data", 200))["user"] == "demo"

            # 5. Log out, through the provider, back to the page: nobody is logged in, so to the login.
            page.locator("#logout").click()
            page.wait_for_url(re.compile(rf"^http://localhost:{demo.port}/idp/login/"))
            assert logins.count == 3
            anonymous = context.request.get(site.url + "bff/user", headers={"X-CSRF": "1"})
            assert anonymous.status == 401 and anonymous.json() == {"error": "not_authenticated"}

            # 6. A login that failed comes back with ?error=: bff() leaves it to the page, no new login.
            page.goto(site.url + "?error=access_denied")
            page.wait_for_load_state()
            stays(page, logins, 3)
        finally:
            browser.close()
