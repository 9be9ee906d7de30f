from __future__ import annotations

from django.apps import AppConfig


class DjangoBFFConfig(AppConfig):
    name = "django_bff"
    verbose_name = "Django BFF"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from django_bff import checks as bff_checks
        from django_bff import receivers  # noqa: F401  (connects signal receivers)
        from django_bff.logfilters import install

        checks.register(bff_checks.check_settings, checks.Tags.security)
        checks.register(bff_checks.check_deploy, checks.Tags.security, deploy=True)
        install()  # no query strings in urllib3's log lines
