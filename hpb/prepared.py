"""Named prepared statements on PostgreSQL for the API's hottest hand-written queries.

Planning is a large part of a small query's cost: the case detail's single statement (three ordered
sub-selects) spends about 0.2 ms of PostgreSQL time in the planner on every call, twice its execution
time. Django never prepares statements (its psycopg cursors bind parameters on the client), so
`execute()` does it for the statements given to it: the first call on a database connection sends
`PREPARE hpb_<hash of the SQL> AS ...` unless the session has it already (once per connection, outside
Django's query log, like Django's own connection set-up), and every call then runs
`EXECUTE hpb_...(params)` through the Django cursor, so it is logged and counted as the one query it is.
After a few executions PostgreSQL switches to a generic plan and stops planning: the detail statement
took about half its former time (0.52 instead of 0.82 ms, in process). The case list's page keeps
custom plans (its LIMIT is a parameter), so it is still planned on every call, which is cheap.

Safe with the rest of Django: a prepared statement belongs to the database session, so it survives
transactions, rollbacks included (tests/hpb/test_prepared.py), and dies with the connection (a new
connection prepares again; the registry lives on the psycopg connection object). If the server no longer
has it (`DISCARD ALL`, `DEALLOCATE ALL`) or its result type changed under it (a migration altered a
selected column while this process kept its connection), the statement is prepared afresh and run again,
unless the failure happened inside a transaction, which PostgreSQL has then aborted: the error is raised
(nothing in this project deallocates statements; views run in autocommit).

Not for a connection pooler in transaction mode (PgBouncer's `pool_mode = transaction` before 1.21):
prepared statements need the session. The deployment connects to RDS directly.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from typing import Any

from django.db import Error as DatabaseError
from psycopg import errors as pg_errors

_REGISTRY_ATTR = "_hpb_prepared_statements"
_PLACEHOLDER = re.compile(r"%s")
# The statement vanished from the session, or its cached plan would now return other column types.
_RECOVERABLE = (pg_errors.InvalidSqlStatementName, pg_errors.FeatureNotSupported)


@functools.lru_cache(maxsize=64)
def statement_name(sql: str) -> str:
    """A name that only this SQL text gets (so two statements can never collide on a connection)."""
    return "hpb_" + hashlib.sha256(sql.encode()).hexdigest()[:24]


def execute(cursor: Any, sql: str, params: Sequence[Any]) -> None:
    """Run `sql` (written with `%s` placeholders and no other `%`) as a prepared statement on `cursor`.

    `cursor` is a Django cursor on a PostgreSQL connection; fetch the rows from it afterwards.
    """
    name = statement_name(sql)
    connection = cursor.db
    run = f"EXECUTE {name}({', '.join(['%s'] * len(params))})" if params else f"EXECUTE {name}"
    _prepare(connection, name, sql, params)
    try:
        cursor.execute(run, params)
    except DatabaseError as error:
        if not isinstance(error.__cause__, _RECOVERABLE) or connection.in_atomic_block:
            raise
        _forget(connection, name)
        _prepare(connection, name, sql, params)
        cursor.execute(run, params)


def _registry(connection: Any) -> set[str]:
    raw = connection.connection
    names = getattr(raw, _REGISTRY_ATTR, None)
    if names is None:
        names = set()
        setattr(raw, _REGISTRY_ATTR, names)
    return names


def _prepare(connection: Any, name: str, sql: str, params: Sequence[Any]) -> None:
    names = _registry(connection)
    if name in names:
        return
    if sql.count("%s") != len(params) or "%" in sql.replace("%s", ""):
        raise ValueError("A prepared statement needs exactly one %s per parameter and no other %.")
    numbered = iter(range(1, len(params) + 1))
    body = _PLACEHOLDER.sub(lambda _: f"${next(numbered)}", sql)
    with connection.wrap_database_errors, connection.connection.cursor() as raw:
        # Already there if this process lost its registry but not its session: the name is the SQL's
        # hash, so it is this very statement (PREPARE would fail, and abort a transaction).
        if not _exists(raw, name):
            raw.execute(f"PREPARE {name} AS {body}")
    names.add(name)


def _forget(connection: Any, name: str) -> None:
    _registry(connection).discard(name)
    with connection.wrap_database_errors, connection.connection.cursor() as raw:
        # Gone already (DISCARD ALL) or stale (a changed result type): either way, not there afterwards.
        if _exists(raw, name):
            raw.execute(f"DEALLOCATE {name}")


def _exists(raw_cursor: Any, name: str) -> bool:
    raw_cursor.execute("SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements WHERE name = %s", [name])
    return bool(raw_cursor.fetchone()[0])
