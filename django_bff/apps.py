"""The app's configuration: what ``ready()`` connects when Django starts.

In the data flow: Django calls :meth:`DjangoBFFConfig.ready` once, after every
app is loaded; it registers the system checks (:mod:`django_bff.checks`, one
per concern), connects the signal receivers (:mod:`django_bff.receivers`) and
puts the query-string filter on urllib3's loggers (:mod:`django_bff.logfilters`).
"""

from __future__ import annotations

from django.apps import AppConfig


class DjangoBFFConfig(AppConfig):
    name = "django_bff"
    verbose_name = "Django BFF"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_bff import checks as bff_checks
        from django_bff import receivers  # noqa: F401  (connects signal receivers)
        from django_bff.logfilters import install

        bff_checks.register()  # one check per concern, each with its tag
        install()  # no query strings in urllib3's log lines
