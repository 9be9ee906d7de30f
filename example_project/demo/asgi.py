"""The demo's ASGI application, run by uvicorn (``bash scripts/demo``).

Django's ASGI application serves every HTTP request, as ``runserver`` did,
with the static files in front of it (``DEBUG``'s static serving is
``runserver``'s, not Django's). :class:`~django_bff.asgi.BFFApplication`
wraps it: a WebSocket to a route of the BFF (``/api/live/``) is proxied with
the user's token; any other WebSocket (the BFF's own upstream connection to
``/demo-api/live``) goes to the demo's live API, :func:`demo.live.live`.
:class:`~django_bff.asgi.RequestBodyLimitMiddleware` bounds request bodies
before Django spools them, as a project's ``asgi.py`` should.
"""

from __future__ import annotations

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
django_application = get_asgi_application()

# Imported once Django is set up: they use its settings and models.
from demo.live import live  # noqa: E402
from django_bff.asgi import BFFApplication, RequestBodyLimitMiddleware  # noqa: E402

application = BFFApplication(RequestBodyLimitMiddleware(ASGIStaticFilesHandler(django_application)), websocket_app=live)
