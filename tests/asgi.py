"""ASGI entry point for the uvicorn processes that the proxy tests start: as a project's ``asgi.py`` would be."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from django_bff.asgi import BFFApplication, RequestBodyLimitMiddleware  # noqa: E402  (after the settings module)

application = BFFApplication(RequestBodyLimitMiddleware(get_asgi_application()))
