"""Sessions in the database, shared by worker processes: what SQLite's locking hides and PostgreSQL shows.

Every test here runs real gunicorn worker processes on the test database (with
``--postgres``: the PostgreSQL the fixtures started, at READ COMMITTED, its
default) and Redis, next to the test process, which plays another host of the
same deployment. Sessions are in the database (``db``) or in the database
behind the cache (``cached_db``); tokens are in ``SessionTokenStore`` records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session

from django_bff.sessions import end_sessions, list_sessions
from django_bff.stores import SESSION_REF_KEY, get_token_store
from tests.support.login import browser_login, expire, session_request
from tests.support.servers import Server, serve
from tests.support.upstream import Upstream

pytestmark = [pytest.mark.integration, pytest.mark.database, pytest.mark.django_db(transaction=True)]

XCSRF = {"X-CSRF": "1"}
PAST = datetime.now(timezone.utc) - timedelta(minutes=10)


def sha(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value else None


@dataclasses.dataclass
class Deployment:
    server: Server
    upstream: Upstream
    cookies: dict[str, str] = dataclasses.field(default_factory=dict)

    def get(self, path: str, timeout: float = 30) -> requests.Response:
        return requests.get(self.server.url + path, cookies=self.cookies, headers=XCSRF, timeout=timeout)

    def storm(self, path: str, count: int = 12) -> list[requests.Response]:
        barrier = threading.Barrier(count)

        def one(_: int) -> requests.Response:
            barrier.wait()
            return self.get(path)

        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(one, range(count)))

    def in_flight(self, path: str) -> Any:
        """Start ``path`` in a thread; returns (future, pool) once the upstream has received it."""
        seen = len(self.upstream.requests)
        pool = ThreadPoolExecutor(1)
        future = pool.submit(self.get, path)
        deadline = time.monotonic() + 15
        while len(self.upstream.requests) == seen:
            assert time.monotonic() < deadline, "the slow request never reached the upstream"
            time.sleep(0.02)
        return future, pool


def deploy(oidc: Any, redis_cache: str, settings: Any, engine: str, **env: str) -> Iterator[Deployment]:
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{engine}"
    with Upstream() as upstream:
        full_env = {
            "BFF_TEST_DB": django_settings.DATABASES["default"]["NAME"],
            "BFF_TEST_REDIS_URL": redis_cache,
            "BFF_TEST_SESSION_ENGINE": settings.SESSION_ENGINE,
            "BFF_TEST_ISSUER": oidc.issuer,
            "BFF_TEST_UPSTREAM": upstream.url,
            **env,
        }
        with serve("gunicorn", full_env, workers=3) as server:
            yield Deployment(server, upstream)


@pytest.fixture(params=["db", "cached_db"])
def deployment(request: Any, oidc: Any, redis_cache: str, settings: Any) -> Iterator[Deployment]:
    """Three gthread workers; the session middleware saves the session on every request."""
    yield from deploy(oidc, redis_cache, settings, request.param, BFF_TEST_SESSION_SAVE_EVERY_REQUEST="1")


def logged_in(deployment: Deployment, bff_client: Any) -> Deployment:
    browser_login(bff_client)
    deployment.cookies = {
        django_settings.SESSION_COOKIE_NAME: bff_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    }
    return deployment


def test_a_request_that_saves_its_session_after_another_process_refreshed_writes_no_old_tokens_back(
    deployment: Deployment, oidc: Any, bff_client: Any
) -> None:
    """Django saves the session dict whole; the refresh happened in other processes meanwhile."""
    logged_in(deployment, bff_client)
    slow, pool = deployment.in_flight("/api/user/slow?seconds=2")  # loaded the session, holds its dict
    old = expire(bff_client)
    answers = [r.json() for r in deployment.storm("/token/")]
    assert [a["error"] for a in answers] == [None] * len(answers)
    assert len({a["token_sha256"] for a in answers}) == 1 and answers[0]["token_sha256"] != sha(old.access_token)
    assert oidc.stats()["token"]["refresh_token"] == 1

    assert slow.result().status_code == 200  # ... and now it saves the session it loaded before the refresh
    pool.shutdown()
    after = deployment.get("/token/").json()
    assert after["error"] is None and after["token_sha256"] == answers[0]["token_sha256"]
    assert oidc.stats()["token"]["refresh_token"] == 1
    assert oidc.stats()["token_errors"].get("invalid_grant") is None


def test_a_session_ended_while_a_request_of_it_is_in_flight_stays_ended(
    deployment: Deployment, oidc: Any, bff_client: Any, settings: Any
) -> None:
    """What back-channel logout does, from another process, while a worker still holds the session."""
    from tests.support.login import point_at

    point_at(settings, oidc)
    logged_in(deployment, bff_client)
    key = deployment.cookies[django_settings.SESSION_COOKIE_NAME]
    ref = session_request(bff_client).session[SESSION_REF_KEY]
    slow, pool = deployment.in_flight("/api/user/slow?seconds=2")
    assert end_sessions(sub="alice") == 1
    assert oidc.stats()["revocations"] == 1

    # Saving the ended session fails (Django: SessionInterrupted, 400); nothing comes back to life.
    assert slow.result().status_code < 500
    pool.shutdown()
    assert not Session.objects.filter(session_key=key).exists()
    assert get_token_store().read_record(ref) is None  # type: ignore[attr-defined]
    assert list_sessions(sub="alice") == []
    assert deployment.get("/bff/user").status_code == 401
    assert deployment.get("/token/").json()["error"] == "not_authenticated"


SQLITE_ONE_WRITER = (
    "SQLite lets one writer in at a time: with ATOMIC_REQUESTS a request that read the session and then "
    "writes fails at once with 'database is locked' while another holds its transaction open (Django's "
    "SQLite transaction_mode IMMEDIATE is for that); the tokens a refresh brought are then lost"
)


@pytest.fixture(
    params=[
        pytest.param("db", marks=pytest.mark.skipif("not config.getoption('postgres')", reason=SQLITE_ONE_WRITER)),
        "cached_db",
    ]
)
def atomic_deployment(request: Any, oidc: Any, redis_cache: str, settings: Any) -> Iterator[Deployment]:
    """As ``deployment``, with ``ATOMIC_REQUESTS = True``: each view runs in one transaction."""
    yield from deploy(
        oidc,
        redis_cache,
        settings,
        request.param,
        BFF_TEST_SESSION_SAVE_EVERY_REQUEST="1",
        BFF_TEST_ATOMIC_REQUESTS="1",
    )


def test_with_atomic_requests_a_refresh_storm_makes_one_refresh(
    atomic_deployment: Deployment, oidc: Any, bff_client: Any
) -> None:
    """Each view runs in a transaction, open until the view returns: a proxied call returns once the
    upstream answers, long after the refresh. A worker that waited for the refresh lock must find the
    new tokens, not refresh again with the rotated refresh token (the provider then revokes the grant).
    """
    deployment = logged_in(atomic_deployment, bff_client)
    expire(bff_client)
    answers = deployment.storm("/api/user/slow?seconds=1", count=6)
    assert [a.status_code for a in answers] == [200] * len(answers)
    assert oidc.stats()["token"]["refresh_token"] == 1
    assert oidc.stats()["token_errors"].get("invalid_grant") is None
    tokens = {r["headers"].get("authorization") for r in deployment.upstream.requests}
    assert len(tokens) == 1


@pytest.mark.skipif(
    "not config.getoption('postgres')",
    reason="SQLite lets one writer at a time in: concurrent index writes fail with 'database is locked'",
)
def test_concurrent_slides_of_one_session_leave_one_index_entry(
    deployment: Deployment, bff_client: Any, settings: Any
) -> None:
    """Every worker that slides the session past the index's bound writes the entry at the same moment."""
    from django_bff.models import UserSession
    from django_bff.sessions import SESSION_INDEXED_KEY

    logged_in(deployment, bff_client)
    session = session_request(bff_client).session
    session[SESSION_INDEXED_KEY] = int(time.time()) - 3600  # as if it slid past the bound long ago
    session.save()
    UserSession.objects.all().delete()  # and the entry is gone: the first writer creates it
    answers = deployment.storm("/bff/user", count=12)
    assert [a.status_code for a in answers] == [200] * len(answers)
    [info] = list_sessions(sub="alice")
    assert info.session_key == deployment.cookies[django_settings.SESSION_COOKIE_NAME]
    assert info.expires.timestamp() > time.time() + settings.SESSION_COOKIE_AGE
    assert "could not move the session index's bound" not in deployment.server.output()
