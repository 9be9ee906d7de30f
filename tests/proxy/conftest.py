"""The recording upstream API the proxy's tests send to (one per test module), the routes to it, a browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from django_bff.testing import sample_token
from tests.support.proxy_browser import Browser, route
from tests.support.upstream import Upstream
from tests.support.urlconf import use_current_routes


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


@pytest.fixture
def routes(settings: Any, upstream: Upstream) -> Any:
    upstream.clear()

    def set_routes(*entries: dict[str, Any], **bff: Any) -> None:
        settings.BFF = {**settings.BFF, "REMOTE_APIS": list(entries), **bff}
        use_current_routes(settings)

    set_routes(
        route("api/user/", upstream.url + "/v1/"),
        route("api/none/", upstream.url + "/v1/", TOKEN_TYPE="none"),
        route("api/optional/", upstream.url + "/v1/", OPTIONAL=True),
        route("api/either/", upstream.url + "/v1/", TOKEN_TYPE="user_or_client"),
        route("api/client/", upstream.url + "/v1/", TOKEN_TYPE="client"),
    )
    return set_routes


@pytest.fixture
def browser(client: Client, user: Any, leak_guard: Any) -> Browser:
    leak_guard.add_token(sample_token(1))
    return Browser(client, user, sample_token(1))
