from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

from django_bff.clock import Clock
from django_bff.signals import token_refreshed, token_response_received
from tests.support import real_parts
from tests.support.leaks import LeakGuard
from tests.support.login import point_at
from tests.support.postgres import ENV_ADDRESS, PostgresServer, django_database
from tests.support.redis_server import RedisServer


@pytest.fixture(autouse=True)
def leak_guard() -> Iterator[LeakGuard]:
    """Fails any test during which a token value appears in a log record or a response."""
    from tests.support import leaks as recorded_responses

    recorded_responses.clear()
    guard = LeakGuard()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(guard)
    root.setLevel(logging.DEBUG)

    def on_tokens(sender: Any, token: Any = None, token_response: Any = None, **kwargs: Any) -> None:
        guard.add_token(token)
        if token_response:
            guard.add(*(str(v) for k, v in token_response.items() if k.endswith("token")))

    token_response_received.connect(on_tokens, dispatch_uid="leak_guard_login")
    token_refreshed.connect(on_tokens, dispatch_uid="leak_guard_refresh")
    try:
        yield guard
    finally:
        token_response_received.disconnect(dispatch_uid="leak_guard_login")
        token_refreshed.disconnect(dispatch_uid="leak_guard_refresh")
        root.removeHandler(guard)
        root.setLevel(old_level)
    leaks = guard.leaks()
    if leaks:
        pytest.fail("token values in log records or responses:\n" + "\n".join(leaks))


@pytest.fixture(autouse=True)
def _fresh_backchannel() -> Iterator[None]:
    """Each test starts without cached discovery documents, JWKS or sessions."""
    from django.core.cache import caches

    from django_bff.backchannel import clear_caches

    clear_caches()
    caches["default"].clear()  # the local-memory cache outlives tests: cached client tokens, locks
    yield
    clear_caches()


@pytest.fixture(autouse=True)
def _close_connections_of_finished_threads() -> Iterator[None]:
    """Database connections that threads of a test opened are closed once those threads have ended.

    Django closes a request's connection when the request finishes; a thread a
    test starts (a pool of concurrent callers) has no such end, and its
    connection would stay open: a ResourceWarning with psycopg, and a session
    that keeps PostgreSQL from dropping the test database.
    """
    import threading

    from django.db.backends.signals import connection_created

    opened: list[tuple[Any, threading.Thread]] = []

    def record(sender: Any, connection: Any, **kwargs: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            opened.append((connection, threading.current_thread()))

    connection_created.connect(record, dispatch_uid="tests.close_thread_connections")
    try:
        yield
    finally:
        connection_created.disconnect(dispatch_uid="tests.close_thread_connections")
        for wrapper, thread in opened:
            if not thread.is_alive() and wrapper.connection is not None:
                wrapper.connection.close()


# --- markers that tell the truth --------------------------------------------------------------

#: Fixtures that start a real part (a process, or a server other processes reach): a test that
#: uses one, directly or through another fixture, is marked ``integration`` at collection, so
#: ``pytest -m "not integration"`` runs with neither Redis, Node, PostgreSQL nor a browser.
REAL_PARTS = frozenset({"redis_server", "idp", "postgres_server"})


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # With --postgres, every test's database is a PostgreSQL started for the run: a real part.
    on_postgres = config.getoption("--postgres")
    for item in items:
        if on_postgres or REAL_PARTS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures are set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    real_parts.allowed = item.get_closest_marker("integration") is not None
    real_parts.current = item.nodeid


# --- PostgreSQL (pytest --postgres) ------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--postgres",
        action="store_true",
        help="run against a PostgreSQL started for the run (Debian's postgresql) instead of SQLite; "
        "scripts/test adds it to a second run of the tests marked database",
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    request: pytest.FixtureRequest, django_db_modify_db_settings_parallel_suffix: None
) -> Iterator[None]:
    """With ``--postgres``, "default" is a PostgreSQL started for this run, for this process and its workers.

    The settings dict is changed in place (Django's connection handler holds it),
    before pytest-django creates the test database in it.
    """
    if not request.config.getoption("postgres"):
        yield
        return
    from django.db import connections

    server: PostgresServer = request.getfixturevalue("postgres_server")
    default = django_settings.DATABASES["default"]
    saved = {key: default.get(key) for key in ("ENGINE", "HOST", "PORT", "USER", "NAME")}
    saved_test_name = default.get("TEST", {}).get("NAME")
    connections.close_all()
    default.update(django_database(server.address, "bff"))
    default.setdefault("TEST", {})["NAME"] = "test_bff"
    try:
        del connections["default"]  # made before the change: an SQLite connection
    except AttributeError:
        pass
    os.environ[ENV_ADDRESS] = server.address  # worker processes started by the tests (tests/settings.py)
    try:
        yield
    finally:
        del os.environ[ENV_ADDRESS]
        connections.close_all()
        default.update(saved)
        default["TEST"]["NAME"] = saved_test_name


@pytest.fixture(scope="session")
def redis_process() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(redis_process: RedisServer) -> RedisServer:
    """The suite's Redis, for a test marked ``integration`` (checked at every use, not only the first)."""
    real_parts.require("Redis")
    return redis_process


@pytest.fixture
def redis_cache(settings: Any, redis_server: RedisServer) -> Iterator[str]:
    """Point the default cache at the real Redis, emptied for this test."""
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_server.url}}
    from django.core.cache import cache

    cache.clear()
    yield redis_server.url
    cache.clear()


@pytest.fixture(
    params=[pytest.param("database", marks=pytest.mark.database), pytest.param("cache", marks=pytest.mark.integration)]
)
def index(request: Any, settings: Any, db: Any) -> Any:
    """Each shipped session index in turn (the cache one on the real Redis)."""
    from django_bff.sessions import get_session_index
    from tests.support.sessions import CACHE_INDEX

    if request.param == "cache":
        request.getfixturevalue("redis_cache")
        settings.BFF = {**settings.BFF, "SESSION_INDEX": CACHE_INDEX}
    return get_session_index()


@pytest.fixture
def dead_cache(settings: Any) -> str:
    """A django-redis cache on a port nobody listens on (what a Redis outage looks like), as alias "dead".

    Short socket timeouts, so that a test meets the outage at once. Point a
    setting at it (``BFF["CACHE"] = "dead"``, a session engine's cache...).
    """
    from tests.support.redis_server import free_port

    settings.CACHES = {
        **settings.CACHES,
        "dead": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    return "dead"


@pytest.fixture
def clock() -> Iterator[Clock]:
    """django_bff's clock, to move instead of sleeping (STYLE 18); back at real time after the test."""
    from django_bff.clock import clock as the_clock

    the_clock.reset()
    try:
        yield the_clock
    finally:
        the_clock.reset()


@pytest.fixture
def user(db: Any) -> Any:
    return get_user_model().objects.create_user("alice", email="alice@example.test")


# --- the real identity provider -------------------------------------------------------------


@pytest.fixture(scope="session")
def client_key() -> Any:
    """The private_key_jwt client's RSA key: (private PEM, public JWKS with kid "bff-test-1")."""
    import json

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid="bff-test-1", use="sig")
    return pem, {"keys": [public]}


@pytest.fixture(scope="session")
def idp_process(client_key: Any) -> Iterator[Any]:
    from tests.support.idp import IdentityProvider

    provider = IdentityProvider(access_token_ttl=120, client_jwks=client_key[1])
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def idp(idp_process: Any) -> Any:
    """The suite's identity provider, for a test marked ``integration`` (checked at every use)."""
    real_parts.require("the test identity provider (Node)")
    return idp_process


@pytest.fixture
def oidc(settings: Any, idp: Any, transactional_db: Any) -> Any:
    """Settings pointing at the real identity provider; yields it with fresh counters."""
    point_at(settings, idp)
    idp.reset_stats()
    return idp


@pytest.fixture
def bff_client() -> Any:
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1")


@pytest.fixture
def bff(settings: Any) -> Any:
    """``bff(**values)``: ``values`` merged over ``settings.BFF``, then the ids the system checks report."""
    from tests.support.checks import ids

    def set_bff(**values: Any) -> list[str]:
        settings.BFF = {**settings.BFF, **values}
        return ids()

    return set_bff
