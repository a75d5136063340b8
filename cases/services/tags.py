"""Filtering cases by one tag of their JSON `tags` list, on PostgreSQL and on SQLite alike.

PostgreSQL answers `tags @> '["tag"]'` (jsonb containment, exact element match). SQLite has no
containment lookup in Django, so the same question is asked with JSON1's `json_each`. Other
databases fall back to matching in Python over (id, tags) pairs. Which one is the kernel seam's
answer for the queryset's alias (`hpb.database.capabilities`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from django.db import connections
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from cases.models import Case
from hpb.database import capabilities

TagFilter = Callable[[QuerySet[Case], str], QuerySet[Case]]


def filter_cases_by_tag(queryset: QuerySet[Case], tag: str) -> QuerySet[Case]:
    """The cases of `queryset` whose tags include exactly `tag` (case-sensitive, whole element)."""
    return _tag_filter(queryset.db)(queryset, tag)


def _tag_filter(alias: str) -> TagFilter:
    found = capabilities(alias)
    if found.json_containment:
        return _by_containment
    if found.is_sqlite:
        return _by_json_each
    return _in_python


def _by_containment(queryset: QuerySet[Case], tag: str) -> QuerySet[Case]:
    return queryset.filter(tags__contains=[tag])


def _by_json_each(queryset: QuerySet[Case], tag: str) -> QuerySet[Case]:
    table = connections[queryset.db].ops.quote_name(Case._meta.db_table)
    # The table name is ours and the tag is a bound parameter: nothing from the request enters the SQL text.
    sql = f"SELECT c.id FROM {table} AS c, json_each(c.tags) AS t WHERE t.value = %s"  # noqa: S608
    matching_ids = RawSQL(sql, (tag,))  # noqa: S611
    return queryset.filter(id__in=matching_ids)


def _in_python(queryset: QuerySet[Case], tag: str) -> QuerySet[Case]:
    ids = [pk for pk, tags in queryset.values_list("pk", "tags") if isinstance(tags, list) and tag in tags]
    return queryset.filter(pk__in=ids)


def all_tags(queryset: QuerySet[Case]) -> list[tuple[str, int]]:
    """Every tag used by the cases of `queryset` with how many cases carry it, most used first (one query)."""
    counts: Counter[str] = Counter()
    for tags in queryset.order_by().values_list("tags", flat=True):
        if isinstance(tags, list):
            counts.update({t for t in tags if isinstance(t, str)})
    return sorted(counts.items(), key=lambda item: (-item[1], item[0].lower()))
