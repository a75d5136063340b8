"""Who may see which cases: the one place the API (and other apps) ask.

Non-staff users see published cases only. Staff (curators) also see drafts and archived cases, so
they can check a case in the viewer before publishing it and look back at withdrawn ones. In
lightweight mode only cases marked `lightweight` are visible to anyone.

The rule is a set of column equalities (`visibility_filters`) on purpose: the case list's total is read
from a counter keyed by exactly these columns (`cases.services.list_counts`), which refuses a filter on
any other column. A rule that needs another column must count some other way.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from cases.models import Case


def can_see_unpublished(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_staff)


def visibility_filters(*, user: Any, lightweight: bool) -> dict[str, Any]:
    """The cases `user` may see, as equalities on Case fields (`Case.objects.filter(**...)`)."""
    filters: dict[str, Any] = {}
    if not can_see_unpublished(user):
        filters["status"] = Case.Status.PUBLISHED.value
    if lightweight:
        filters["lightweight"] = True
    return filters


def visible_cases(*, user: Any, lightweight: bool) -> QuerySet[Case]:
    """Cases `user` may list and open, in lightweight mode or not (newest first)."""
    return Case.objects.filter(**visibility_filters(user=user, lightweight=lightweight))
