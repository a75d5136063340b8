"""The one place that asks which database vendor is behind a connection alias.

The project runs on PostgreSQL (tests, production) and on SQLite (the `make run` demo). A few
concerns have a PostgreSQL implementation and a portable one: full-text search, the case list's
exact counts, the case detail's single statement, JSON tag filtering, token lookup, advisory locks and sequence
reservation. Each concern chooses its implementation once per alias through `capabilities()`; no
other module reads `connection.vendor`. The answer is cached: the vendor of an alias never changes
while a process runs (tests that swap settings clear the cache with `capabilities.cache_clear()`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections


@dataclass(frozen=True)
class Capabilities:
    """What the database behind one alias offers the project."""

    vendor: str
    # PostgreSQL: tsvector columns, GIN indexes, websearch_to_tsquery, ts_headline, unaccent.
    full_text_search: bool
    # PostgreSQL: the trigger-maintained case counts (migration cases/0003).
    counted_case_list: bool
    # PostgreSQL: session advisory locks (pg_advisory_lock) shared by every worker process.
    advisory_locks: bool
    # PostgreSQL: nextval() on a serial's sequence, so an id can be reserved before its row exists.
    sequences: bool
    # PostgreSQL: JSONB containment (`tags @> '["x"]'`); SQLite has json_each instead.
    json_containment: bool
    # PostgreSQL: related rows built as JSON inside one statement (ARRAY(SELECT jsonb_build_object(...))).
    json_rows: bool
    # Whether a second thread may write while the first holds a transaction (not SQLite's one writer).
    concurrent_writers: bool

    @property
    def is_postgresql(self) -> bool:
        return self.vendor == "postgresql"

    @property
    def is_sqlite(self) -> bool:
        return self.vendor == "sqlite"


@functools.cache
def capabilities(using: str = DEFAULT_DB_ALIAS) -> Capabilities:
    """The capabilities of the database behind `using` (chosen once per alias and process)."""
    vendor = connections[using].vendor
    postgresql = vendor == "postgresql"
    return Capabilities(
        vendor=vendor,
        full_text_search=postgresql,
        counted_case_list=postgresql,
        advisory_locks=postgresql,
        sequences=postgresql,
        json_containment=postgresql,
        json_rows=postgresql,
        concurrent_writers=vendor != "sqlite",
    )
