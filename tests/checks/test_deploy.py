"""The deployment check (:mod:`django_bff.checks.deploy`): logout's endpoints and DPoP's algorithms in discovery.

``manage.py check --deploy`` alone reads the discovery document (E040 is tested
with the diagnostics endpoint, in ``tests/test_views.py``).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import responses

from django_bff.backchannel import get_discovery_document
from django_bff.checks.deploy import check_deploy

AUTHORITY = "https://id.example.com"
DISCOVERY = AUTHORITY + "/.well-known/openid-configuration"
COMPLETE = {
    "issuer": AUTHORITY,
    "revocation_endpoint": AUTHORITY + "/revoke",
    "end_session_endpoint": AUTHORITY + "/logout",
}


@pytest.fixture
def provider(settings: Any) -> Any:
    settings.BFF = {**settings.BFF, "AUTHORITY": AUTHORITY}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def ids() -> list[str]:
    return sorted(m.id for m in check_deploy())


def test_a_provider_that_publishes_both_endpoints(provider: Any) -> None:
    provider.get(DISCOVERY, json=COMPLETE)
    assert ids() == []


def test_W020_W021_a_discovery_document_without_them(provider: Any) -> None:
    provider.get(DISCOVERY, json={"issuer": AUTHORITY})
    assert ids() == ["django_bff.W020", "django_bff.W021"]
    messages = {m.id: m for m in check_deploy()}
    assert 'BFF["REVOCATION_ENDPOINT"]' in str(messages["django_bff.W020"].hint)


def test_W020_not_when_set_or_not_revoking(provider: Any, settings: Any) -> None:
    provider.get(DISCOVERY, json={**COMPLETE, "revocation_endpoint": None})
    assert ids() == ["django_bff.W020"]
    settings.BFF = {**settings.BFF, "REVOCATION_ENDPOINT": AUTHORITY + "/revoke"}
    assert ids() == []
    settings.BFF = {**settings.BFF, "REVOCATION_ENDPOINT": None, "REVOKE_REFRESH_TOKEN_ON_LOGOUT": False}
    assert ids() == []


@pytest.mark.parametrize(
    "answer",
    [
        {"body": requests.ConnectionError("unreachable")},
        {"status": 503, "json": {}},
        {"body": "<html>not json</html>"},
        {"json": ["not", "an", "object"]},
    ],
)
def test_a_provider_that_cannot_say_reports_nothing(provider: Any, answer: dict[str, Any]) -> None:
    provider.get(DISCOVERY, **answer)
    assert ids() == []


def test_no_authority_no_request(settings: Any) -> None:
    settings.BFF = {**settings.BFF, "AUTHORITY": None}
    with responses.RequestsMock():  # any request would fail the test
        assert ids() == []


def test_a_session_factory_that_fails_reports_nothing(provider: Any, settings: Any) -> None:
    settings.BFF = {**settings.BFF, "BACKCHANNEL_SESSION": "builtins.object"}
    assert ids() == []


def test_the_check_leaves_the_runtimes_cache_alone(provider: Any) -> None:
    provider.get(DISCOVERY, json={"issuer": AUTHORITY})
    check_deploy()
    assert len(provider.calls) == 1
    get_discovery_document()  # not cached by the check: the runtime asks on its own
    assert len(provider.calls) == 2


# --- E055: DPoP ---------------------------------------------------------------------------------


def test_E055_the_provider_does_not_take_the_algorithm(settings: Any, provider: Any) -> None:
    provider.get(DISCOVERY, json={**COMPLETE, "dpop_signing_alg_values_supported": ["ES256", "EdDSA"]})
    settings.BFF = {**settings.BFF, "DPOP": {"ALGORITHM": "PS256"}}
    assert ids() == ["django_bff.E055"]
    settings.BFF = {**settings.BFF, "DPOP": True}  # ES256
    assert ids() == []


@pytest.mark.parametrize(
    "answer",
    [
        {"json": COMPLETE},  # lists no algorithms
        {"body": requests.ConnectionError("down")},  # cannot be reached
    ],
)
def test_E055_needs_a_list_to_compare_with(settings: Any, provider: Any, answer: Any) -> None:
    provider.get(DISCOVERY, **answer)
    settings.BFF = {**settings.BFF, "DPOP": {"ALGORITHM": "PS256"}}
    assert "django_bff.E055" not in ids()


def test_E055_not_without_dpop(provider: Any) -> None:
    provider.get(DISCOVERY, json={**COMPLETE, "dpop_signing_alg_values_supported": ["EdDSA"]})
    assert ids() == []
