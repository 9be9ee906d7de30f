"""Prepare the database and one logged-in session holding a fresh user token.

Run by ``run.py`` under the benchmark settings (``python -m
benchmarks.project.setup_session``). Prints one JSON line:
``{"cookie_name": ..., "session_key": ...}``.

The session is made the way a real login leaves it: ``django.contrib.auth.login``
on a request carrying a session from ``SESSION_ENGINE`` (cycled key, user id,
backend, auth hash), then the token goes to the configured store and the session
is saved, which is what ``SessionMiddleware`` does at the end of the request.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from importlib import import_module


def make_session() -> tuple[str, str]:
    """Migrate, log the benchmark user in, store a day-long token; (cookie name, session key)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model, login
    from django.contrib.auth.models import AnonymousUser
    from django.core.management import call_command
    from django.test import RequestFactory

    from django_bff.stores import get_token_store
    from django_bff.tokens import UserToken

    call_command("migrate", verbosity=0, interactive=False)
    user, _ = get_user_model().objects.get_or_create(username="bench")

    request = RequestFactory().get("/")
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    request.user = AnonymousUser()
    login(request, user, backend="django_bff.auth.BFFAuthenticationBackend")
    expired = bool(os.environ.get("BENCH_EXPIRED"))  # storm.py: every call must refresh first
    token = UserToken(
        access_token="bench-token-expired" if expired else "bench-token",
        refresh_token="r0",
        expires_at=datetime.now(timezone.utc) + (timedelta(minutes=-1) if expired else timedelta(days=1)),
    )
    # What the BFF's login does besides: the session index entry (by sub, sid and user).
    from django_bff.sessions import record_session

    record_session(request, "bench-sub", "bench-sid", user=str(user.pk))
    get_token_store().store_token(request, token)
    # What mozilla-django-oidc keeps with OIDC_STORE_ACCESS_TOKEN (the glued-together contenders).
    request.session["oidc_access_token"] = token.access_token
    request.session.save()
    assert get_token_store().get_token(request) == token
    return settings.SESSION_COOKIE_NAME, str(request.session.session_key)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.project.settings")
    import django

    django.setup()
    cookie_name, session_key = make_session()
    print(json.dumps({"cookie_name": cookie_name, "session_key": session_key}))


if __name__ == "__main__":
    main()
