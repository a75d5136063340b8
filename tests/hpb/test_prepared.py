"""hpb.prepared: statements prepared once per connection, counted once per call, and recovered when lost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from hpb import prepared

SQL = "SELECT %s::int + 1, %s::text"


def _run(sql: str = SQL, params: Sequence[Any] = (41, "x")) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, list(params))
        return cursor.fetchall()


def _prepared_names() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'hpb%%' ORDER BY name")
        return [name for (name,) in cursor.fetchall()]


def _deallocate_all() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what DISCARD ALL or a pooler's reset would do


class AbortError(Exception):
    pass


@pytest.fixture(autouse=True)
def _forget_the_registry_afterwards():
    """These tests deallocate statements behind the registry's back; leave the next test a clean slate."""
    yield
    if connection.connection is not None:
        setattr(connection.connection, prepared._REGISTRY_ATTR, set())


@pytest.mark.django_db(transaction=True)
def test_prepared_once_then_executed_and_counted_once_per_call():
    connection.close()  # a fresh session: nothing prepared yet
    with CaptureQueriesContext(connection) as queries:
        assert _run() == [(42, "x")]
        assert _run(params=(1, "it's; DROP TABLE x")) == [(2, "it's; DROP TABLE x")]
    assert [q["sql"].split("(")[0] for q in queries.captured_queries] == [f"EXECUTE {prepared.statement_name(SQL)}"] * 2
    assert _prepared_names() == [prepared.statement_name(SQL)]
    assert prepared.statement_name(SQL) != prepared.statement_name(SQL + " ")


@pytest.mark.django_db
def test_a_rollback_keeps_the_statement():
    def run_then_fail() -> None:
        with transaction.atomic():
            _run()
            raise AbortError

    with pytest.raises(AbortError):
        run_then_fail()
    with CaptureQueriesContext(connection) as queries:
        assert _run() == [(42, "x")]
    assert len(queries.captured_queries) == 1


@pytest.mark.django_db
def test_a_statement_the_session_has_but_the_registry_forgot_is_reused():
    _run()
    setattr(connection.connection, prepared._REGISTRY_ATTR, set())
    assert _run(params=(2, "z")) == [(3, "z")]  # inside the test's transaction: no failed PREPARE
    assert _prepared_names().count(prepared.statement_name(SQL)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_again():
    _run()
    connection.close()
    assert _run(params=(1, "y")) == [(2, "y")]


@pytest.mark.django_db
def test_a_lost_statement_inside_a_transaction_is_an_error_not_a_retry():
    _run()
    _deallocate_all()
    with pytest.raises(DatabaseError, match="does not exist"):
        _run()


@pytest.mark.django_db(transaction=True)
def test_a_lost_statement_is_prepared_again_outside_transactions():
    _run()
    _deallocate_all()
    assert _run() == [(42, "x")]
    assert _prepared_names() == [prepared.statement_name(SQL)]


@pytest.mark.django_db(transaction=True)
def test_a_changed_result_type_is_prepared_again():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE hpb_prepared_probe (label varchar(10))")
        cursor.execute("INSERT INTO hpb_prepared_probe VALUES ('a')")
    try:
        sql = "SELECT label FROM hpb_prepared_probe WHERE label = %s"
        assert _run(sql, ["a"]) == [("a",)]
        with connection.cursor() as cursor:  # e.g. a migration widening a column under a running process
            cursor.execute("ALTER TABLE hpb_prepared_probe ALTER COLUMN label TYPE varchar(20)")
        assert _run(sql, ["a"]) == [("a",)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE hpb_prepared_probe")


@pytest.mark.parametrize(("sql", "params"), [("SELECT %s", []), ("SELECT 1", [1]), ("SELECT %s, 5 %% 2", [1])])
def test_placeholders_must_match_the_parameters(sql, params, db):
    with pytest.raises(ValueError, match="exactly one"), connection.cursor() as cursor:
        prepared.execute(cursor, sql, params)
