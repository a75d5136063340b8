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

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connections
from django.db.models import OuterRef, QuerySet
from django.db.models.functions import JSONObject

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

    On PostgreSQL this is one query: the related rows come back as ordered JSON arrays built by
    the database (`ARRAY(SELECT jsonb_build_object(...) ... ORDER BY ...)`), which saves three
    round trips per request. Elsewhere (the SQLite demo) it is four plain queries. Both return
    the same rows; tests/api/test_case_detail_paths.py holds them to that.
    """
    if connections[cases.db].vendor == "postgresql":
        return case_detail_single_query(cases=cases, case_id=case_id)
    return case_detail_portable(cases=cases, case_id=case_id)


def _case_row(cases: QuerySet[Case], case_id: int, **extra: Any) -> dict[str, Any] | None:
    patient_columns = [f"patient__{name}" for name in PATIENT_FIELDS]
    rows = cases.filter(pk=case_id).values(
        *SUMMARY_FIELDS, "encounter_id", "clinical_summary", *patient_columns, **extra
    )[:1]
    row = next(iter(rows), None)
    if row is not None:
        row["patient"] = {name: row.pop(f"patient__{name}") for name in PATIENT_FIELDS}
    return row


def _documents(case: Any) -> QuerySet[Document]:
    return Document.objects.filter(cases=case).order_by("created_at", "id")


def _studies(case: Any) -> QuerySet[ImagingStudy]:
    return ImagingStudy.objects.filter(case=case).order_by("acquired_at", "id")


def _structures(case: Any) -> QuerySet[CaseStructure]:
    return CaseStructure.objects.filter(case=case).order_by("imaging_study_id", "name", "id")


def case_detail_portable(*, cases: QuerySet[Case], case_id: int) -> dict[str, Any] | None:
    """Four queries whatever the number of related rows: the case joined to its patient, then one
    each for documents (never their full text), studies and structures."""
    row = _case_row(cases, case_id)
    if row is None:
        return None
    row["documents"] = list(_documents(case_id).values(*DOCUMENT_FIELDS))
    row["imaging_studies"] = list(_studies(case_id).values(*STUDY_FIELDS))
    row["structures"] = list(_structures(case_id).values(*STRUCTURE_FIELDS))
    return row


def _json_array(queryset: QuerySet, fields: tuple[str, ...]) -> ArraySubquery:
    return ArraySubquery(queryset.values(json=JSONObject(**{name: name for name in fields})))


def case_detail_single_query(*, cases: QuerySet[Case], case_id: int) -> dict[str, Any] | None:
    """PostgreSQL only: the case, its patient and its related rows in one query.

    Timestamps inside the JSON arrays arrive as ISO 8601 strings; the serializers accept both.
    """
    outer = OuterRef("pk")
    row = _case_row(
        cases,
        case_id,
        _documents=_json_array(_documents(outer), DOCUMENT_FIELDS),
        _imaging_studies=_json_array(_studies(outer), STUDY_FIELDS),
        _structures=_json_array(_structures(outer), STRUCTURE_FIELDS),
    )
    if row is None:
        return None
    for name in ("documents", "imaging_studies", "structures"):
        row[name] = row.pop(f"_{name}")
    return row
