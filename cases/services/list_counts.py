"""Exact case totals per (specialty, status, lightweight), kept by PostgreSQL triggers (cases migration 0003).

The unfiltered case list (the viewer's first page) filters on nothing but these three columns: the
default specialty, and the visibility rule of `cases.services.access` (status for non-staff,
lightweight in lightweight mode). Its `X-Total-Count` is then a SUM over a handful of rows of
`cases_case_list_count` instead of a COUNT(*) over every visible case; the triggers keep those rows
exact in the writing transaction itself, so the total is as transactionally correct as COUNT(*) (see the
migration for the design, concurrency and what bypasses it). Any other filter counts the real rows.

PostgreSQL only: elsewhere (the SQLite demo) `available()` is False and callers count as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connections, transaction

from hpb.database import capabilities

TABLE = "cases_case_list_count"
# Case fields the counter is keyed by; its columns carry the same names.
COUNTED_FIELDS = frozenset({"specialty", "status", "lightweight"})


class NotCountedError(ValueError):
    """A filter on a column the counter is not keyed by: its total must be counted from the rows."""


def available(*, using: str) -> bool:
    """Whether the counter exists on this database (PostgreSQL, where migration 0003 creates it)."""
    return capabilities(using).counted_case_list


def counted_names(filters: Mapping[str, Any]) -> tuple[str, ...]:
    """The filter names in a fixed order, or NotCountedError if one is not a counted column."""
    names = tuple(sorted(filters))
    unknown = [name for name in names if name not in COUNTED_FIELDS]
    if unknown:
        raise NotCountedError(f"The case list counter is not keyed by {', '.join(unknown)}.")
    return names


def total(*, filters: Mapping[str, Any], using: str) -> int:
    """The number of cases matching `filters` (equalities on counted fields), from the counter."""
    names = counted_names(filters)
    qn = connections[using].ops.quote_name
    where = " AND ".join(f"{qn(name)} = %s" for name in names) or "TRUE"
    sql = f"SELECT COALESCE(SUM(total), 0) FROM {qn(TABLE)} WHERE {where}"  # noqa: S608 - identifiers only
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [filters[name] for name in names])
        return int(cursor.fetchone()[0])


def rebuild(*, using: str) -> None:
    """Recount every group from `cases_case` (after something bypassed the triggers; blocks writers briefly)."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT cases_case_list_count_rebuild()")
