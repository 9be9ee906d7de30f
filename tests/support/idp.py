"""Drive the test OpenID provider in ``tests/idp`` (oidc-provider on Node).

Typical use::

    with IdentityProvider() as idp:
        url = build_authorization_url(idp.authorization_endpoint, ...)
        callback = complete_login(url, "http://127.0.0.1:8000/oidc/callback/")

The provider knows two confidential clients (``bff``/``bff-secret`` with
client_secret_basic, ``bff-post``/``bff-post-secret`` with client_secret_post)
and two that must send DPoP proofs (``bff-dpop``/``bff-dpop-secret``, and
``bff-dpop-nonce``/``bff-dpop-nonce-secret``, from which it demands nonces;
see ``tests/support/dpop.py``),
any login works, consent is skipped, PKCE (S256) is required, access tokens
are RS256 JWTs for the resource ``http://127.0.0.1/api`` and refresh tokens
rotate on every use.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urljoin

import requests

from tests.support import real_parts

IDP_DIR = Path(__file__).resolve().parent.parent / "idp"

#: The resource server the IdP issues JWT access tokens for (their ``aud``).
API_RESOURCE = "http://127.0.0.1/api"
#: The scope the resource server knows.
API_SCOPE = "api"

FAIL_MODES = ("500", "html", "slow", "invalid_grant", "trickle", "huge")

# A start normally takes under a second. Twice in this project's CI history a node
# process printed its first warning and then nothing for 90 s; a fresh process has
# always started at once, so a start that hangs is abandoned and tried again.
_START_TIMEOUT = 20.0
_START_ATTEMPTS = 3
_STOP_TIMEOUT = 10.0
_HTTP_TIMEOUT = 10.0


class _StartTimeout(RuntimeError):
    """The provider process neither printed READY nor exited in time."""


class IdentityProvider:
    """A ``node server.mjs`` child process serving the test OpenID provider."""

    def __init__(
        self,
        access_token_ttl: int = 60,
        refresh_token_ttl: int = 86400,
        backchannel_logout_uri: str | None = None,
        client_jwks: dict[str, Any] | None = None,
    ) -> None:
        """``client_jwks``: public keys that register the private_key_jwt client ``bff-jwt``."""
        self.client_jwks = client_jwks
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.backchannel_logout_uri = backchannel_logout_uri
        self._process: subprocess.Popen[str] | None = None
        self._port: int | None = None
        self._discovery: dict[str, Any] | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=500)
        self._reader: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start the provider (on the previous port after a ``stop()``), trying a hung start again."""
        real_parts.require("the test identity provider (Node)")
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                self._start_once()
                return
            except _StartTimeout:
                if attempt == _START_ATTEMPTS:
                    raise
                sys.stderr.write(f"test identity provider: start {attempt} hung, trying again\n")

    def _start_once(self) -> None:
        if self._process is not None:
            raise RuntimeError("identity provider already running")
        _ensure_node_modules()
        env = dict(os.environ)
        env.update(
            IDP_PORT=str(self._port or 0),
            IDP_ACCESS_TOKEN_TTL=str(self.access_token_ttl),
            IDP_REFRESH_TOKEN_TTL=str(self.refresh_token_ttl),
        )
        if self.client_jwks:
            env["IDP_CLIENT_JWKS"] = json.dumps(self.client_jwks)
        if self.backchannel_logout_uri:
            env["IDP_BACKCHANNEL_LOGOUT_URI"] = self.backchannel_logout_uri
        else:
            env.pop("IDP_BACKCHANNEL_LOGOUT_URI", None)

        self._output.clear()
        process = subprocess.Popen(
            [_executable("node"), "server.mjs"],
            cwd=IDP_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # warnings interleave with READY; we read both
            text=True,
            bufsize=1,
        )
        self._process = process
        ready: list[int] = []
        ready_event = threading.Event()
        self._reader = threading.Thread(
            target=self._read_output,
            args=(process, ready, ready_event),
            name="idp-output",
            daemon=True,
        )
        self._reader.start()

        deadline = time.monotonic() + _START_TIMEOUT
        while not ready_event.wait(0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                exited = process.poll() is not None
                reason = (
                    f"exited with code {process.returncode}"
                    if exited
                    else f"did not print READY within {_START_TIMEOUT:.0f}s"
                )
                self._terminate()
                error = RuntimeError if exited else _StartTimeout
                raise error(f"identity provider {reason}; output:\n{self.output}")
        if not ready:  # the reader stopped without seeing READY
            self._terminate()
            raise RuntimeError(f"identity provider closed its output before READY; output:\n{self.output}")
        self._port = ready[0]
        try:
            response = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=_HTTP_TIMEOUT)
            response.raise_for_status()
            self._discovery = response.json()
        except Exception as exc:
            self._terminate()
            raise RuntimeError(f"identity provider discovery failed: {exc}; output:\n{self.output}") from exc

    def _read_output(
        self,
        process: subprocess.Popen[str],
        ready: list[int],
        ready_event: threading.Event,
    ) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            self._output.append(line)
            if not ready_event.is_set() and line.startswith("READY "):
                try:
                    ready.append(int(line.split()[1]))
                except (IndexError, ValueError):
                    pass
                ready_event.set()
        ready_event.set()

    def stop(self) -> None:
        """Stop the provider: SIGTERM, wait, then SIGKILL. Idempotent."""
        self._terminate()
        self._discovery = None

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=_STOP_TIMEOUT)
        if self._reader is not None:
            self._reader.join(timeout=_STOP_TIMEOUT)
            self._reader = None
        if process.stdout is not None:
            process.stdout.close()

    def restart(self) -> None:
        """Stop and start again on the same port.

        All provider state (sessions, grants, tokens, stats) is lost and a new
        signing key is generated, so the JWKS changes.
        """
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def output(self) -> str:
        """The provider's recent stdout/stderr lines (for diagnostics)."""
        return "\n".join(self._output)

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

    # -- endpoints ---------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("identity provider has not been started")
        return self._port

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery(self) -> dict[str, Any]:
        """The discovery document fetched at start."""
        if self._discovery is None:
            raise RuntimeError("identity provider is not running")
        return self._discovery

    def _endpoint(self, name: str) -> str:
        value = self.discovery.get(name)
        if not isinstance(value, str):
            raise KeyError(f"{name} missing from discovery document")
        return value

    @property
    def token_endpoint(self) -> str:
        return self._endpoint("token_endpoint")

    @property
    def authorization_endpoint(self) -> str:
        return self._endpoint("authorization_endpoint")

    @property
    def jwks_uri(self) -> str:
        return self._endpoint("jwks_uri")

    @property
    def userinfo_endpoint(self) -> str:
        return self._endpoint("userinfo_endpoint")

    @property
    def revocation_endpoint(self) -> str:
        return self._endpoint("revocation_endpoint")

    @property
    def end_session_endpoint(self) -> str:
        return self._endpoint("end_session_endpoint")

    # -- test control --------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Token/revocation endpoint counters, see ``tests/idp/server.mjs``."""
        response = requests.get(f"{self.issuer}/__test__/stats", timeout=_HTTP_TIMEOUT)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset_stats(self) -> None:
        """Zero the counters (also cancels pending injected failures)."""
        response = requests.post(f"{self.issuer}/__test__/reset", timeout=_HTTP_TIMEOUT)
        response.raise_for_status()

    def fail(self, mode: str, count: int = 1, delay: float = 0) -> None:
        """Make the next ``count`` token-endpoint requests fail.

        ``mode``: ``"500"`` (HTTP 500 ``{"error":"server_error"}``), ``"html"``
        (200 text/html), ``"slow"`` (sleep ``delay`` seconds, then answer
        normally), ``"invalid_grant"`` (400 ``{"error":"invalid_grant"}``),
        ``"trickle"`` (do the work, then send the answer one byte every
        ``delay`` seconds) or ``"huge"`` (200, 300 MiB that are not JSON).
        """
        if mode not in FAIL_MODES:
            raise ValueError(f"mode must be one of {FAIL_MODES}, not {mode!r}")
        response = requests.post(
            f"{self.issuer}/__test__/fail",
            json={"mode": mode, "count": count, "delay": delay},
            timeout=_HTTP_TIMEOUT,
        )
        response.raise_for_status()


def _executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name!r} not found on PATH; the test IdP needs Node.js")
    return path


_npm_lock = threading.Lock()


def _ensure_node_modules() -> None:
    """Run ``npm ci`` in tests/idp once if its node_modules is missing."""
    with _npm_lock:
        if (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            return
        result = subprocess.run(
            [_executable("npm"), "ci", "--no-audit", "--no-fund"],
            cwd=IDP_DIR,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"npm ci in {IDP_DIR} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


# -- browser simulation ------------------------------------------------------


class _Form:
    def __init__(self, action: str | None, method: str) -> None:
        self.action = action
        self.method = method
        # (name, type, value) in document order
        self.inputs: list[tuple[str, str, str]] = []


class _FormParser(HTMLParser):
    """Collects <form>s with their <input>s, plus the page's <title>."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self.title = ""
        self.text: list[str] = []
        self._current: _Form | None = None
        self._in_title = False
        self._skip = 0  # inside <style>/<script>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._current = _Form(attributes.get("action"), (attributes.get("method") or "get").lower())
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and attributes.get("name"):
            self._current.inputs.append(
                (
                    attributes["name"],
                    (attributes.get("type") or "text").lower(),
                    attributes.get("value", ""),
                )
            )
        elif tag == "title":
            self._in_title = True
        elif tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "title":
            self._in_title = False
        elif tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if data.strip() and not self._skip:
            self.text.append(data.strip())


_TEXT_INPUT_TYPES = {"text", "email", "username", "search", "tel", "url"}


def _fill_form(form: _Form, login: str) -> dict[str, str]:
    """Fill a form like a user would: the first text field gets the login,
    password fields get a password, hidden fields keep their values."""
    data: dict[str, str] = {}
    login_filled = False
    for name, kind, value in form.inputs:
        if kind == "password":
            data[name] = "password"
        elif kind in _TEXT_INPUT_TYPES and not login_filled:
            data[name] = login
            login_filled = True
        elif kind in ("checkbox", "radio", "submit", "button", "image", "file", "reset"):
            continue
        else:
            data[name] = value
    return data


class LoginError(RuntimeError):
    """The provider showed an error page (or something unexpected) during login."""


def complete_login(
    authorization_url: str, redirect_uri_prefix: str, login: str = "alice", browser: requests.Session | None = None
) -> str:
    """Act as a browser: log in at the IdP and return the final redirect URL.

    Follows redirects from ``authorization_url``, submits the dev login form
    (field names taken from the page), and keeps following redirects until
    one points at a URL starting with ``redirect_uri_prefix``; that URL is
    returned without being requested. It carries ``code`` and ``state`` (or
    ``error`` when the provider redirects an OAuth error back to the client).
    Raises :class:`LoginError` if the provider shows an error page instead.
    ``browser``: a session whose cookies (the provider's session) outlive the login.
    """
    with contextlib.nullcontext(browser) if browser is not None else requests.Session() as session:
        method, url, data = "GET", authorization_url, None
        forms_submitted = 0
        for _ in range(30):
            if url.startswith(redirect_uri_prefix):
                return url
            response = session.request(method, url, data=data, allow_redirects=False, timeout=_HTTP_TIMEOUT)
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise LoginError(f"redirect without Location from {url}")
                url = urljoin(response.url, location)
                # Like a browser: 307/308 keep the method and body, others GET.
                if response.status_code not in (307, 308):
                    method, data = "GET", None
                continue

            parser = _FormParser()
            parser.feed(response.text)
            if response.status_code >= 400 or "oops" in parser.title.lower():  # oidc-provider's renderError
                raise LoginError(
                    f"identity provider error page at {url} (HTTP {response.status_code}): "
                    + " ".join(parser.text).replace(" :", ":")
                )
            if response.status_code != 200 or not parser.forms:
                raise LoginError(
                    f"unexpected page at {url} (HTTP {response.status_code}, title {parser.title!r}, no form to submit)"
                )
            form = parser.forms[0]
            forms_submitted += 1
            if forms_submitted > 5:
                raise LoginError(f"too many forms while logging in; last one at {url}")
            action = urljoin(response.url, form.action or response.url)
            fields = _fill_form(form, login)
            if form.method == "post":
                method, url, data = "POST", action, fields
            else:
                method, data = "GET", None
                url = requests.Request("GET", action, params=fields).prepare().url or action
    raise LoginError(f"too many redirects while logging in from {authorization_url}")


def end_provider_session(browser: requests.Session, end_session_endpoint: str) -> requests.Response:
    """Act as a browser at the provider's end-session page: confirm "sign me out".

    The provider then ends its session and sends back-channel logout tokens to
    the clients that took part in it.
    """
    page = browser.get(end_session_endpoint, timeout=_HTTP_TIMEOUT)
    parser = _FormParser()
    parser.feed(page.text)
    if page.status_code != 200 or not parser.forms:
        raise LoginError(f"no logout confirmation at {end_session_endpoint} (HTTP {page.status_code})")
    form = parser.forms[0]
    fields = {name: value for name, kind, value in form.inputs if kind == "hidden"}
    fields["logout"] = "yes"
    return browser.post(
        urljoin(page.url, form.action or page.url), data=fields, allow_redirects=False, timeout=_HTTP_TIMEOUT
    )
