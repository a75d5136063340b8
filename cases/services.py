"""Who may see which cases, and the rows the case endpoints serialize.

Non-staff users see published cases only. Staff (curators) also see drafts and archived cases, so
they can check a case in the viewer before publishing it and look back at withdrawn ones. In
lightweight mode only cases marked `lightweight` are visible to anyone.

The read paths return plain `values()` rows rather than model instances: the API only reads, and
skipping model instantiation and prefetch bookkeeping is most of what keeps the detail fast (see
benchmarks/api.py). The row keys are the serializers' field names (cases.serializers).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from cases.models import Case, Document
from imaging.models import CaseStructure, ImagingStudy

SUMMARY_FIELDS = (
    "id",
    "slug",
    "title",
    "focus",
    "specialty",
    "created_at",
    "updated_at",
    "status",
    "lightweight",
    "tags",
)
PATIENT_FIELDS = ("id", "mrn", "first_name", "last_name", "date_of_birth", "sex")
DOCUMENT_FIELDS = ("id", "slug", "title", "summary", "mime_type", "storage_uri", "metadata", "created_at")
STUDY_FIELDS = ("id", "label", "modality", "volume_uri", "preview_uri", "format", "metadata", "acquired_at")
STRUCTURE_FIELDS = ("id", "name", "color_hex", "mesh_uri", "metadata", "imaging_study_id")


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


def case_summaries(cases: QuerySet[Case]) -> QuerySet:
    """Summary rows of `cases`, newest first (a lazy queryset: filter and slice it further)."""
    return cases.order_by("-created_at", "-id").values(*SUMMARY_FIELDS)


def case_detail(*, cases: QuerySet[Case], case_id: int) -> dict[str, Any] | None:
    """One case of `cases` with its patient, documents, studies and structures; None if not among them.

    Four queries whatever the number of related rows: the case joined to its patient, then one
    each for documents (without their full text), studies and structures.
    """
    patient_columns = [f"patient__{name}" for name in PATIENT_FIELDS]
    rows = cases.filter(pk=case_id).values(*SUMMARY_FIELDS, "encounter_id", "clinical_summary", *patient_columns)[:1]
    row = next(iter(rows), None)
    if row is None:
        return None
    row["patient"] = {name: row.pop(f"patient__{name}") for name in PATIENT_FIELDS}
    row["documents"] = list(
        Document.objects.filter(cases__id=case_id).order_by("created_at", "id").values(*DOCUMENT_FIELDS)
    )
    row["imaging_studies"] = list(
        ImagingStudy.objects.filter(case_id=case_id).order_by("acquired_at", "id").values(*STUDY_FIELDS)
    )
    row["structures"] = list(
        CaseStructure.objects.filter(case_id=case_id)
        .order_by("imaging_study_id", "name", "id")
        .values(*STRUCTURE_FIELDS)
    )
    return row
