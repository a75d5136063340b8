"""Moving cases between draft, published and archived (admin actions and, later, the API)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from cases.models import Case
from cases.signals import case_statuses_changed


@dataclass(frozen=True)
class StatusChange:
    """How many cases moved, and how many already had the status (so messages can say both)."""

    changed: int
    unchanged: int


def set_case_status(*, cases: QuerySet[Case], status: str) -> StatusChange:
    """Give every case in `cases` the status, in one UPDATE; `updated_at` moves only for changed rows."""
    if status not in Case.Status.values:
        raise ValueError(f"Unknown case status {status!r}; expected one of {', '.join(Case.Status.values)}.")
    total = cases.count()
    with transaction.atomic():
        ids = list(cases.exclude(status=status).values_list("pk", flat=True))
        changed = (
            Case.objects.filter(pk__in=ids).exclude(status=status).update(status=status, updated_at=timezone.now())
        )
        if changed:
            # Bundles for the viewer follow (imaging listens); a queryset UPDATE sends no post_save.
            case_statuses_changed.send(sender=Case, case_ids=ids, status=status)
    return StatusChange(changed=changed, unchanged=total - changed)


def publish_cases(*, cases: QuerySet[Case]) -> StatusChange:
    return set_case_status(cases=cases, status=Case.Status.PUBLISHED)


def archive_cases(*, cases: QuerySet[Case]) -> StatusChange:
    return set_case_status(cases=cases, status=Case.Status.ARCHIVED)
