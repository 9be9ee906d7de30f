"""The check of the OIDC client (:mod:`django_bff.checks.oidc`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.checks import ids


@pytest.mark.parametrize("name", ["OIDC_RP_CLIENT_ID", "OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_RP_CLIENT_SECRET"])
def test_E010_missing_mozilla_settings(settings: Any, name: str) -> None:
    delattr(settings, name)
    assert "django_bff.E010" in ids()


def test_E010_token_endpoint_needed_without_authority(settings: Any, bff: Any) -> None:
    delattr(settings, "OIDC_OP_TOKEN_ENDPOINT")
    assert "django_bff.E010" not in bff()
    assert "django_bff.E010" in bff(AUTHORITY=None)


def test_E011_backend_missing(settings: Any) -> None:
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "no.such.Backend"]
    assert "django_bff.E011" in ids()


def test_E017_asymmetric_algo_without_keys(settings: Any, bff: Any) -> None:
    delattr(settings, "OIDC_OP_JWKS_ENDPOINT")
    assert "django_bff.E017" not in bff()  # AUTHORITY's discovery supplies the JWKS
    assert "django_bff.E017" in bff(AUTHORITY=None)


def test_E010_public_client_without_secret_passes(settings: Any) -> None:
    settings.OIDC_RP_CLIENT_SECRET = None
    assert "django_bff.E010" not in ids()
