"""``manage.py demo_setup``: the demo user and the two OAuth clients (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from oauth2_provider.models import Application


class Command(BaseCommand):
    help = "Create or update the demo user and the OAuth clients of the demo."

    def handle(self, *args: Any, **options: Any) -> None:
        user, _ = get_user_model().objects.get_or_create(
            username="demo", defaults={"email": "demo@example.com", "first_name": "Demo", "last_name": "User"}
        )
        user.set_password("demo")
        user.save()
        Application.objects.update_or_create(
            client_id=settings.OIDC_RP_CLIENT_ID,
            defaults={
                "name": "The BFF (authorization code + PKCE)",
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                "client_secret": settings.OIDC_RP_CLIENT_SECRET,
                "redirect_uris": f"{settings.APP_ORIGIN}/oidc/callback/",
                "post_logout_redirect_uris": f"{settings.APP_ORIGIN}/",
                "algorithm": Application.RS256_ALGORITHM,
                "skip_authorization": True,
            },
        )
        machine = settings.BFF["CLIENTS"]["demo-machine"]
        Application.objects.update_or_create(
            client_id=machine["CLIENT_ID"],
            defaults={
                "name": "The BFF as an app (client credentials)",
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_CLIENT_CREDENTIALS,
                "client_secret": machine["CLIENT_SECRET"],
            },
        )
        self.stdout.write("demo user and clients ready")
