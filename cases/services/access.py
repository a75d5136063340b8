"""Who may see which cases: the one place the API (and other apps) ask.

Non-staff users see published cases only. Staff (curators) also see drafts and archived cases, so
they can check a case in the viewer before publishing it and look back at withdrawn ones. In
lightweight mode only cases marked `lightweight` are visible to anyone.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from cases.models import Case


def can_see_unpublished(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_staff)


def visible_cases(*, user: Any, lightweight: bool) -> QuerySet[Case]:
    """Cases `user` may list and open, in lightweight mode or not (newest first)."""
    queryset = Case.objects.all()
    if not can_see_unpublished(user):
        queryset = queryset.filter(status=Case.Status.PUBLISHED)
    if lightweight:
        queryset = queryset.filter(lightweight=True)
    return queryset
