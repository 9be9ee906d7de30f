"""WSGI entry point gunicorn serves for the benchmarks.

With ``BENCH_TIMERS_DIR`` set (``run.py --profile``), the phase timers of
``timers.py`` are installed and wrap the application.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.project.settings")

application = get_wsgi_application()

if os.environ.get("BENCH_TIMERS_DIR"):
    from benchmarks.project import timers

    timers.install()
    application = timers.wrap(application)  # type: ignore[assignment]
