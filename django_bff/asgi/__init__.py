"""The ASGI package: a project's ``asgi.py`` wraps its Django application with these.

In the data flow: the outermost layer under ASGI, before Django.
:class:`BFFApplication` (:mod:`django_bff.asgi.application`) passes HTTP and
lifespan to Django and proxies the WebSocket connections of the ``ws://`` and
``wss://`` routes (:mod:`django_bff.asgi.handshake` checks a handshake,
:mod:`django_bff.asgi.websocket` relays the frames);
:class:`RequestBodyLimitMiddleware` (:mod:`django_bff.asgi.body_limit`) bounds
request bodies before Django reads them::

    # asgi.py
    from django.core.asgi import get_asgi_application
    from django_bff.asgi import BFFApplication, RequestBodyLimitMiddleware

    application = BFFApplication(RequestBodyLimitMiddleware(get_asgi_application()))

Nothing here needs the ``websockets`` library until a WebSocket route is
connected to (``pip install "django-bff[websockets]"``).
"""

from __future__ import annotations

from django_bff.asgi.application import BFFApplication
from django_bff.asgi.body_limit import RequestBodyLimitMiddleware

__all__ = ["BFFApplication", "RequestBodyLimitMiddleware"]
