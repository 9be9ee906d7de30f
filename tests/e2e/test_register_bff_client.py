"""``manage.py register_bff_client`` of the example project: your own project as a client of the demo's provider.

The command runs as the quickstart runs it, in ``example_project/`` with the
demo's environment, against a demo database of its own (migrated here, no
server started). The settings it prints are checked by
``tests/e2e/test_quickstart.py``, which logs in with them.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.demo import ROOT, demo_env

PORT = 8123


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo-data")
    for command in (["migrate", "--noinput", "-v", "0"], ["demo_setup"]):
        manage(path, *command)
    return path


def manage(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT / "example_project",
        env=demo_env(PORT, data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def stored(data_dir: Path, client_id: str, secret: str) -> str:
    """The registered client as the provider keeps it, and whether ``secret`` is its secret."""
    code = (
        "from django.contrib.auth.hashers import check_password; from oauth2_provider.models import Application; "
        f"a = Application.objects.get(client_id={client_id!r}); "
        f"print(a.client_type, a.authorization_grant_type, a.algorithm, a.redirect_uris, "
        f"a.post_logout_redirect_uris, a.skip_authorization, check_password({secret!r}, a.client_secret))"
    )
    return manage(data_dir, "shell", "-v", "0", "-c", code).stdout.splitlines()[-1]


def secret_of(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("export OIDC_RP_CLIENT_SECRET=")]
    return shlex.split(line.split("=", 1)[1])[0]


def test_registers_a_confidential_client_and_prints_the_settings(data_dir: Path) -> None:
    redirect = "http://127.0.0.1:8001/oidc/callback/"
    output = manage(data_dir, "register_bff_client", "--redirect-uri", redirect).stdout
    secret = secret_of(output)
    assert len(secret) >= 32
    assert stored(data_dir, "my-bff", secret) == (
        f"confidential authorization-code RS256 {redirect} http://127.0.0.1:8001/ True True"
    )
    issuer = f"http://localhost:{PORT}/o"
    settings = output.split("# At the end of settings.py, below the quickstart's settings:\n", 1)[1]
    assert 'OIDC_RP_CLIENT_ID = "my-bff"' in settings
    assert f'OIDC_OP_AUTHORIZATION_ENDPOINT = "{issuer}/authorize/"' in settings
    assert f'BFF["AUTHORITY"] = "{issuer}"' in settings
    assert " api" in settings.split("OIDC_RP_SCOPES = ", 1)[1].splitlines()[0]  # the demo API's scope
    # The secret is for the shell, not for settings.py.
    assert secret not in settings
    # 127.0.0.1 is the demo app's host too: cookies of their own.
    assert 'SESSION_COOKIE_NAME = "sessionid_8001"' in settings

    # Again: the same client, a new secret; the old one no longer works.
    again = secret_of(manage(data_dir, "register_bff_client", "--redirect-uri", redirect).stdout)
    assert again != secret
    assert stored(data_dir, "my-bff", again).endswith(" True")
    assert stored(data_dir, "my-bff", secret).endswith(" False")


def test_another_host_name_needs_no_cookie_names(data_dir: Path) -> None:
    output = manage(
        data_dir, "register_bff_client", "--redirect-uri", "http://127.0.0.2:8001/oidc/callback/", "--client-id", "two"
    ).stdout
    assert 'OIDC_RP_CLIENT_ID = "two"' in output
    assert "SESSION_COOKIE_NAME" not in output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--redirect-uri", "http://localhost:8001/oidc/callback/"], "serve your project on another host name"),
        (["--redirect-uri", "/oidc/callback/"], "must be an absolute http(s) URL"),
        (["--redirect-uri", "http://127.0.0.1:8001/oidc/callback/", "--client-id", "bff"], "the demo's own clients"),
        (["--redirect-uri", "http://127.0.0.1:8001/cb/", "--client-id", "bff-machine"], "the demo's own clients"),
    ],
)
def test_refuses(data_dir: Path, arguments: list[str], message: str) -> None:
    done = manage(data_dir, "register_bff_client", *arguments, check=False)
    assert done.returncode == 1 and message in done.stderr
