"""django_bff's migrations: they match the models, and run forwards and backwards on the test database."""

from __future__ import annotations

from datetime import datetime, timezone
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from django_bff.models import UserSession

pytestmark = pytest.mark.database

TABLE = "django_bff_usersession"


def test_the_database_is_the_one_asked_for(db: Any, request: pytest.FixtureRequest) -> None:
    """With --postgres every database test talks to PostgreSQL, at its default isolation level."""
    if request.config.getoption("postgres"):
        assert connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute("SHOW transaction_isolation")
            assert cursor.fetchone() == ("read committed",)
    else:
        assert connection.vendor == "sqlite"


def test_the_migrations_match_the_models(db: Any) -> None:
    out = StringIO()
    call_command("makemigrations", "django_bff", "--check", "--dry-run", stdout=out)  # SystemExit(1) on changes
    assert "No changes detected" in out.getvalue()


def columns_and_constraints() -> tuple[dict[str, Any], dict[str, Any]]:
    with connection.cursor() as cursor:
        columns = {c.name: c for c in connection.introspection.get_table_description(cursor, TABLE)}
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return columns, constraints


def test_migrate_from_zero_and_back(transactional_db: Any) -> None:
    call_command("migrate", "django_bff", "zero", verbosity=0)
    assert TABLE not in connection.introspection.table_names()
    call_command("migrate", "django_bff", verbosity=0)
    assert TABLE in connection.introspection.table_names()

    columns, constraints = columns_and_constraints()
    assert set(columns) == {"id", "sub", "sid", "user", "key_digest", "session_key", "created", "expires"}
    assert not any(columns[name].null_ok for name in columns)
    unique = [c["columns"] for c in constraints.values() if c["unique"] and not c["primary_key"]]
    assert unique == [["key_digest"]]
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"] and not c["unique"]}
    assert {("sub",), ("sid",), ("user",), ("expires",)} <= indexed

    now = datetime.now(tz=timezone.utc)
    UserSession.objects.create(sub="a", sid="s", key_digest="d" * 64, session_key="k", created=now, expires=now)
    assert UserSession.objects.get(key_digest="d" * 64).created == now
    assert UserSession.objects.get(key_digest="d" * 64).user == ""  # entries from before 0002 know no user


def test_0002_adds_the_user_to_existing_entries(transactional_db: Any) -> None:
    call_command("migrate", "django_bff", "0001", verbosity=0)
    assert "user" not in columns_and_constraints()[0]
    now = datetime.now(tz=timezone.utc)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (sub, sid, key_digest, session_key, created, expires)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            ["a", "s", "e" * 64, "k", now, now],
        )
    call_command("migrate", "django_bff", verbosity=0)
    assert UserSession.objects.get(key_digest="e" * 64).user == ""
