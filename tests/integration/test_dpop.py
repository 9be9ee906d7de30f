"""DPoP through real worker processes: an API's nonce learnt by one gunicorn process serves the other (Redis)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.test import Client

from tests.support.dpop_tokens import AUDIENCE, ISSUER, bound_token
from tests.support.keys import KEY
from tests.support.redis_server import free_port
from tests.support.resource_api import ResourceAPI
from tests.support.served_settings import served_with
from tests.support.servers import serve
from tests.support.sessions import logged_in_session

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_api_demanding_nonces_costs_one_refusal_across_two_processes(
    redis_cache: str, settings: Any, user: Any
) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"  # in Redis, where the workers read it
    with ResourceAPI(None, ISSUER, AUDIENCE, key=KEY) as api:
        api.demand_nonces(rotate_every=6)  # and a new nonce after 6 calls, announced in a 200
        client = Client()
        logged_in_session(client, user, bound_token().user_token())
        cookie = {django_settings.SESSION_COOKIE_NAME: client.cookies[django_settings.SESSION_COOKIE_NAME].value}
        route = {"PREFIX": "api/dpop/", "TARGET": api.url + "/v1/", "ALLOW_INSECURE": True}
        env = {
            **served_with({"REMOTE_APIS": [route]}),
            "BFF_TEST_DB": django_settings.DATABASES["default"]["NAME"],
            "BFF_TEST_REDIS_URL": redis_cache,
            "BFF_TEST_SESSION_ENGINE": settings.SESSION_ENGINE,
        }
        # Two servers of one worker each: two processes for certain, sharing only Redis and the database.
        with serve("gunicorn-sync", env) as a, serve("gunicorn-sync", env, port=free_port()) as b:
            statuses = [
                requests.get(
                    (a, b)[n % 2].url + f"/api/dpop/orders/{n}", headers={"X-CSRF": "1"}, cookies=cookie, timeout=30
                ).status_code
                for n in range(10)
            ]
        assert statuses == [200] * 10
        assert api.nonce_refusals == 1 and len(api.requests) == 11
        assert {r["dpop_error"] for r in api.requests[1:]} == {None}
