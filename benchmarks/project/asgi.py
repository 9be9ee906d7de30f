"""ASGI entry point uvicorn serves for B4 (``live.py``): what a project deploys.

``BFFApplication`` outermost: HTTP goes to Django's ASGI handler, WebSocket
connections to the project's ``ws://`` routes are proxied by django_bff.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.project.settings")

from django_bff.asgi import BFFApplication  # noqa: E402  (after the settings module is named)

application = BFFApplication(get_asgi_application())
