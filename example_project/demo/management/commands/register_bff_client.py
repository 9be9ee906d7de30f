"""``manage.py register_bff_client``: your own project as a client of the demo's identity provider.

Registers (or updates) a confidential client of the demo's django-oauth-toolkit
provider: the authorization code grant with PKCE, refresh tokens, RS256 identity
tokens, the given redirect URI and its origin as post-logout redirect URI, a new
secret. Then prints the shell line and the settings that point a project made
with the quickstart (docs/quickstart.rst) at the demo's provider and its API.
Run it with the same ``DEMO_PORT`` and ``DEMO_DATA_DIR`` as ``bash scripts/demo``.
"""

from __future__ import annotations

import secrets
import shlex
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from oauth2_provider.models import Application


class Command(BaseCommand):
    help = "Register a confidential client at the demo's identity provider and print the settings to paste."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--redirect-uri",
            required=True,
            help="your project's callback, such as http://127.0.0.1:8001/oidc/callback/",
        )
        parser.add_argument("--client-id", default="my-bff", help="the client id (default: my-bff)")

    def handle(self, *args: Any, redirect_uri: str, client_id: str, **options: Any) -> None:
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise CommandError(f"--redirect-uri must be an absolute http(s) URL, not {redirect_uri!r}")
        idp_host = urlsplit(settings.IDP_ORIGIN).hostname
        if parts.hostname == idp_host:
            # Cookies are per host name, not per port: the app's session cookie and the
            # provider's would overwrite each other.
            raise CommandError(
                f"the demo's identity provider is on {idp_host}: serve your project on another host name "
                f"(such as 127.0.0.1), so that its session cookie and the provider's stay apart"
            )
        demo_clients = {settings.OIDC_RP_CLIENT_ID, *(c["CLIENT_ID"] for c in settings.BFF["CLIENTS"].values())}
        if client_id in demo_clients:
            raise CommandError(f"{client_id!r} is one of the demo's own clients: choose another --client-id")

        origin = f"{parts.scheme}://{parts.netloc}"
        secret = secrets.token_urlsafe(32)
        Application.objects.update_or_create(
            client_id=client_id,
            defaults={
                "name": f"{client_id} (registered with register_bff_client)",
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                "client_secret": secret,  # stored hashed: this is the only time it is shown
                "redirect_uris": redirect_uri,
                "post_logout_redirect_uris": f"{origin}/",
                "algorithm": Application.RS256_ALGORITHM,
                "skip_authorization": True,
            },
        )

        issuer = settings.ISSUER
        lines = [
            "# In your shell, before manage.py runserver (a new secret each time this command runs):",
            f"export OIDC_RP_CLIENT_SECRET={shlex.quote(secret)}",
            "",
            "# At the end of settings.py, below the quickstart's settings:",
            f"# the demo's identity provider ({issuer}) and its API.",
            f'OIDC_RP_CLIENT_ID = "{client_id}"',
            "# api: the demo API wants it.",
            'OIDC_RP_SCOPES = "openid email profile offline_access api"',
            f'OIDC_OP_AUTHORIZATION_ENDPOINT = "{issuer}/authorize/"',
            f'BFF["AUTHORITY"] = "{issuer}"',
            "# Not in its discovery document:",
            f'BFF["REVOCATION_ENDPOINT"] = "{issuer}/revoke_token/"',
            'BFF["REMOTE_APIS"] = [',
            f'    {{"PREFIX": "api/orders/", "TARGET": "{settings.IDP_ORIGIN}/demo-api/"}},',
            "]",
        ]
        if parts.hostname == urlsplit(settings.APP_ORIGIN).hostname:
            lines += [
                f"# The demo's own app uses the cookies of {parts.hostname} too (per host, not per port).",
                f'SESSION_COOKIE_NAME = "sessionid_{parts.port or parts.scheme}"',
                f'CSRF_COOKIE_NAME = "csrftoken_{parts.port or parts.scheme}"',
            ]
        self.stdout.write("\n".join(lines))
