"""Faults a deployment meets, against real processes: gunicorn workers, a Redis that is killed and
restarted, an identity provider that trickles its answer or sends 300 MiB."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session

from django_bff.token_manager import _in_doubt_key
from tests.support.login import browser_login
from tests.support.redis_server import RedisServer
from tests.support.served_settings import served_with
from tests.support.servers import serve
from tests.support.sessions import expire
from tests.support.upstream import Upstream

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DB_ENGINE = "django.contrib.sessions.backends.db"
CACHE_ENGINE = "django.contrib.sessions.backends.cache"


@pytest.fixture
def own_redis(settings: Any) -> Iterator[RedisServer]:
    """A Redis of this test's own (it gets killed), as the cache of this process and of the workers."""
    server = RedisServer().start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as up:
        yield up


def bff_server(
    oidc: Any, redis_url: str, engine: str, upstream: Upstream | None = None, workers: int = 2, **bff: Any
) -> Any:
    env = {
        **served_with(bff),
        "BFF_TEST_DB": str(django_settings.DATABASES["default"]["NAME"]),
        "BFF_TEST_REDIS_URL": redis_url,
        "BFF_TEST_SESSION_ENGINE": engine,
        "BFF_TEST_ISSUER": oidc.issuer,
    }
    if upstream is not None:
        env["BFF_TEST_UPSTREAM"] = upstream.url
    return serve("gunicorn-sync", env, workers=workers)


def cookies(client: Any) -> dict[str, str]:
    return {django_settings.SESSION_COOKIE_NAME: client.cookies[django_settings.SESSION_COOKIE_NAME].value}


API = {"X-CSRF": "1"}


# --- 1. the cache goes away ---------------------------------------------------------------------


def test_redis_killed_during_a_refresh_is_503_and_the_session_survives(
    oidc: Any, own_redis: RedisServer, upstream: Upstream, bff_client: Any, settings: Any
) -> None:
    settings.SESSION_ENGINE = DB_ENGINE
    with bff_server(oidc, own_redis.url, DB_ENGINE, upstream) as server:
        browser_login(bff_client)
        expire(bff_client)
        session_key = bff_client.session.session_key
        own_redis.kill()

        answer = requests.get(server.url + "/api/user/orders", headers=API, cookies=cookies(bff_client), timeout=30)
        assert answer.status_code == 503, server.output()
        assert answer.json() == {"error": "storage_unavailable"}
        assert answer.headers["Retry-After"] == "5"
        assert answer.headers["Content-Type"] == "application/json"
        assert upstream.requests == []
        # What needs no cache keeps working: the session endpoint, a route without a token.
        user = requests.get(server.url + "/bff/user?slide=false", headers=API, cookies=cookies(bff_client), timeout=30)
        assert user.status_code == 200
        assert requests.get(server.url + "/api/up/ping", headers=API, timeout=30).status_code == 200
        assert Session.objects.filter(session_key=session_key).exists()
        assert oidc.stats()["token"].get("refresh_token", 0) == 0

        own_redis.start(port=own_redis.port)
        back = requests.get(server.url + "/api/user/orders", headers=API, cookies=cookies(bff_client), timeout=30)
        assert back.status_code == 200 and upstream.last["headers"]["authorization"].startswith("Bearer ")
        assert oidc.stats()["token"]["refresh_token"] == 1
        assert "Traceback" not in server.output()


def test_redis_sessions_with_redis_down_are_503_not_a_logout(
    oidc: Any, own_redis: RedisServer, bff_client: Any, settings: Any
) -> None:
    """Django's cache engine reads an unreachable session as an empty one: a 401 would send the app to log in."""
    settings.SESSION_ENGINE = CACHE_ENGINE
    with bff_server(oidc, own_redis.url, CACHE_ENGINE) as server:
        browser_login(bff_client)
        assert requests.get(server.url + "/bff/user", headers=API, cookies=cookies(bff_client), timeout=30).ok
        own_redis.kill()
        answer = requests.get(server.url + "/bff/user", headers=API, cookies=cookies(bff_client), timeout=30)
        assert answer.status_code == 503, server.output()
        assert answer.json() == {"error": "storage_unavailable"} and answer.headers["Retry-After"] == "5"
        # The login itself cannot save its session: 503 JSON, not an HTML 500.
        login = requests.get(server.url + "/bff/login?returnUrl=/", timeout=30, allow_redirects=False)
        assert login.status_code == 503 and login.json() == {"error": "storage_unavailable"}
        assert "Traceback" not in server.output()


# --- 2. a slow token endpoint outlives the lock ---------------------------------------------------


def test_a_trickling_token_endpoint_cannot_make_two_workers_refresh_with_one_token(
    oidc: Any, bff_client: Any, redis_cache: str, settings: Any
) -> None:
    """The provider does the refresh (rotating the token), then sends its answer a byte every 0.5 s.

    Without a deadline, the first worker waits for the answer past the lock's lifetime and the
    second refreshes with the same refresh token: rotation takes that for theft and revokes the grant.
    """
    settings.SESSION_ENGINE = DB_ENGINE
    timeouts = {"BACKCHANNEL_CONNECT_TIMEOUT": 1.0, "BACKCHANNEL_READ_TIMEOUT": 2.0, "REFRESH_LOCK_TIMEOUT": 8.0}
    with bff_server(oidc, redis_cache, DB_ENGINE, **timeouts, REFRESH_LOCK_WAIT=8.0) as server:
        browser_login(bff_client)
        old = expire(bff_client)
        oidc.fail("trickle", count=1, delay=0.5)

        def call(delay: float) -> dict[str, Any]:
            time.sleep(delay)
            answer = requests.get(server.url + "/token/", cookies=cookies(bff_client), timeout=60)
            return answer.json()  # type: ignore[no-any-return]

        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(call, (0, 0.5))
        assert first["error"] == second["error"] == "token_service_unavailable"
        assert first["pid"] != second["pid"], "both calls landed on one worker"
        # The refresh token is in doubt: calls in the meantime are answered at once, without a refresh.
        third = call(0)
        assert third["error"] == "token_service_unavailable"
        assert oidc.stats()["token"]["refresh_token"] == 1
        from django.core.cache import caches

        assert caches["default"].get(_in_doubt_key(old)) is not None


# --- 6. bounded reads -----------------------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_huge_token_service_answer_does_not_grow_the_worker(
    oidc: Any, bff_client: Any, redis_cache: str, settings: Any
) -> None:
    settings.SESSION_ENGINE = DB_ENGINE
    with bff_server(oidc, redis_cache, DB_ENGINE, workers=1) as server:
        browser_login(bff_client)
        warm = requests.get(server.url + "/token/", cookies=cookies(bff_client), timeout=30).json()
        assert warm["error"] is None
        before = _rss_kib(warm["pid"])
        expire(bff_client)
        oidc.fail("huge", count=1)
        answer = requests.get(server.url + "/token/", cookies=cookies(bff_client), timeout=60).json()
        assert answer["error"] == "token_service_unavailable" and answer["pid"] == warm["pid"]
        growth_mib = (_rss_kib(warm["pid"]) - before) / 1024
        assert growth_mib < 32, f"the worker grew by {growth_mib:.0f} MiB reading a 300 MiB answer"
        assert "refused" in server.output()
