"""The rows the case endpoints of the API serialize: summaries for the list, one case in full.

The read paths return plain `values()` rows (or dicts shaped the same way) rather than model
instances: the API only reads, and skipping model instantiation and prefetch bookkeeping is most of
what keeps the endpoints fast (see benchmarks/api.py). Row keys are the serializers' field names
(cases.serializers). Which cases a user may see is `cases.services.access`' business: these
functions take its rule, as a queryset or as Case field equalities (`access.visibility_filters`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any

from django.db import connections, models
from django.db.models import QuerySet

from cases.models import Case, Document, Patient
from cases.services import list_counts
from hpb.database import capabilities
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


def concrete_field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The field `name` of `model` that has a column (for hand-written SQL); TypeError for a reverse relation."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} has no column")
    return field


def column(model: type[models.Model], name: str) -> str:
    """The column of the field `name` of `model` (for hand-written SQL)."""
    found = concrete_field(model, name).column
    if found is None:
        raise TypeError(f"{model.__name__}.{name} has no column")
    return found


def case_summaries(cases: QuerySet[Case]) -> QuerySet:
    """Summary rows of `cases`, newest first (a lazy queryset: filter and slice it further)."""
    return cases.order_by("-created_at", "-id").values(*SUMMARY_FIELDS)


def case_list_page(
    *, filters: Mapping[str, Any], limit: int, offset: int, using: str
) -> tuple[int, list[dict[str, Any]]]:
    """`(total, rows)`: one page of summaries of the cases matching `filters`, and their exact total.

    The unfiltered case list (most requests): `filters` are equalities on the columns the case counter is
    keyed by (`list_counts.COUNTED_FIELDS`, else NotCountedError). Where the database keeps the counter
    (`capabilities().counted_case_list`, PostgreSQL) this is `counted_case_page`, one query; elsewhere
    (the SQLite demo) a COUNT(*) and the ORM page. Both give the same rows and totals.
    """
    if capabilities(using).counted_case_list:
        return counted_case_page(filters=filters, limit=limit, offset=offset, using=using)
    list_counts.counted_names(filters)  # the same contract on every database
    cases = Case.objects.using(using).filter(**filters)
    return cases.count(), list(case_summaries(cases)[offset : offset + limit])


def counted_case_page(
    *, filters: Mapping[str, Any], limit: int, offset: int, using: str
) -> tuple[int, list[dict[str, Any]]]:
    """`(total, rows)`: one page of summaries of the cases matching `filters`, and their exact total.

    The same rows, in the same order, as `case_summaries(Case.objects.filter(**filters))[offset:offset +
    limit]`, but for the common case list only: `filters` are equalities on the columns the
    trigger-maintained counter is keyed by (`list_counts.COUNTED_FIELDS`, else NotCountedError), and the
    database must keep the counter (`list_counts.available`; `case_list_page` chooses). The total is then
    a SUM over a few counter rows instead of a COUNT(*) over every matching case, and the statement is
    written once per set of filter names (`_counted_page_sql`) instead of compiled by the ORM on every
    request: together most of the list's cost. One query, also for an offset past the end.
    tests/api/test_case_list_paths.py holds both paths to the same rows and totals.
    """
    names = list_counts.counted_names(filters)
    values = [filters[name] for name in names]
    with connections[using].cursor() as cursor:
        cursor.execute(_counted_page_sql(using, names), [*values, *values, limit, offset])
        records = cursor.fetchall()
    total = int(records[0][0])
    rows = []
    for record in records:
        if record[1] is None:  # the page is empty: the total's row alone
            break
        row = dict(zip(SUMMARY_FIELDS, record[1:], strict=True))
        row["tags"] = _json(row["tags"])
        for name in _SUMMARY_DATETIMES:
            if row[name] is not None:
                row[name] = _EPOCH + dt.timedelta(microseconds=row[name])
        rows.append(row)
    return total, rows


# Timestamps of the counted page travel as integer microseconds since 1970 (UTC): exact, and about
# twenty times cheaper to turn into datetimes than the timestamptz text Django's psycopg loader parses
# in Python (4 us a value: 50 values were a sixth of the list's Python time).
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SUMMARY_DATETIMES = tuple(
    name for name in SUMMARY_FIELDS if isinstance(Case._meta.get_field(name), models.DateTimeField)
)


@functools.lru_cache(maxsize=32)
def _counted_page_sql(alias: str, names: tuple[str, ...]) -> str:
    """The counted page statement for equality filters on `names`; parameters: the filter values (for
    the counter, then for the cases), limit, offset.

    The total comes first and the page is LEFT JOINed to it, so an empty page still returns the total.
    The outer ORDER BY repeats the page's (sorting 100 rows at most): SQL keeps a LATERAL subquery's order
    only by convention. Identifiers come from the models' metadata, quoted by the backend.
    """
    qn = connections[alias].ops.quote_name

    def col(name: str) -> str:
        return f"c.{qn(column(Case, name))}"

    def value(name: str) -> str:
        # EXTRACT(EPOCH ...) of a timestamptz is an exact numeric (PostgreSQL 14 and later).
        if name in _SUMMARY_DATETIMES:
            return f"(EXTRACT(EPOCH FROM {col(name)}) * 1000000)::bigint AS {qn(name)}"
        return f"{col(name)} AS {qn(name)}"

    counted = " AND ".join(f"n.{qn(name)} = %s" for name in names) or "TRUE"
    matching = " AND ".join(f"{col(name)} = %s" for name in names) or "TRUE"
    columns = ", ".join(value(name) for name in SUMMARY_FIELDS)
    page = ", ".join(f"p.{qn(name)}" for name in SUMMARY_FIELDS)
    return (
        f"SELECT n.total, {page} FROM "  # noqa: S608 - identifiers only
        f"(SELECT COALESCE(SUM(n.total), 0) AS total FROM {qn(list_counts.TABLE)} n WHERE {counted}) n "
        f"LEFT JOIN LATERAL (SELECT {columns} FROM {qn(Case._meta.db_table)} c WHERE {matching} "
        f"ORDER BY {col('created_at')} DESC, {col('id')} DESC LIMIT %s OFFSET %s) p ON TRUE "
        f"ORDER BY p.{qn('created_at')} DESC, p.{qn('id')} DESC"
    )


def case_detail(*, filters: Mapping[str, Any], case_id: int, using: str) -> dict[str, Any] | None:
    """Case `case_id` with its patient, documents, studies and structures, if it matches `filters`
    (equalities on Case fields: the visibility rule, `access.visibility_filters`); else None.

    Where the database builds JSON rows inside a query (`capabilities().json_rows`, PostgreSQL) this is
    one query: the related rows come back as ordered JSON arrays built by the database
    (`ARRAY(SELECT jsonb_build_object(...) ... ORDER BY ...)`), which saves three round trips and most
    of the Python time per request. Elsewhere (the SQLite demo) it is four plain queries. Both return
    the same rows; tests/api/test_case_detail_paths.py holds them to it.
    """
    if capabilities(using).json_rows:
        return case_detail_single_query(filters=filters, case_id=case_id, using=using)
    return case_detail_portable(filters=filters, case_id=case_id, using=using)


def _case_row(cases: QuerySet[Case], case_id: int) -> dict[str, Any] | None:
    patient_columns = [f"patient__{name}" for name in PATIENT_FIELDS]
    rows = cases.filter(pk=case_id).values(*SUMMARY_FIELDS, "encounter_id", "clinical_summary", *patient_columns)[:1]
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


def case_detail_portable(*, filters: Mapping[str, Any], case_id: int, using: str) -> dict[str, Any] | None:
    """Four queries whatever the number of related rows: the case joined to its patient, then one
    each for documents (never their full text), studies and structures."""
    row = _case_row(Case.objects.using(using).filter(**filters), case_id)
    if row is None:
        return None
    row["documents"] = list(_documents(case_id).using(using).values(*DOCUMENT_FIELDS))
    row["imaging_studies"] = list(_studies(case_id).using(using).values(*STUDY_FIELDS))
    row["structures"] = list(_structures(case_id).using(using).values(*STRUCTURE_FIELDS))
    return row


def case_detail_single_query(*, filters: Mapping[str, Any], case_id: int, using: str) -> dict[str, Any] | None:
    """PostgreSQL only: the case, its patient and its related rows in one query.

    The statement is written once per process and set of filter names from the models' metadata
    (`_detail_sql`): building the equivalent ORM expression tree (JSONObject, ArraySubquery), or even
    compiling the visibility filter as a subquery, cost more Python (and planning) time per request than
    everything else in the detail. Timestamps inside the JSON arrays arrive as ISO 8601 strings; the
    serializers accept both.
    """
    names = tuple(sorted(filters))
    with connections[using].cursor() as cursor:
        cursor.execute(_detail_sql(using, names), [case_id, *(filters[name] for name in names)])
        record = cursor.fetchone()
    if record is None:
        return None
    columns = (*SUMMARY_FIELDS, "encounter_id", "clinical_summary")
    row = dict(zip(columns, record[: len(columns)], strict=True))
    row["tags"] = _json(row["tags"])
    rest = record[len(columns) :]
    row["patient"] = dict(zip(PATIENT_FIELDS, rest[: len(PATIENT_FIELDS)], strict=True))
    documents, studies, structures = rest[len(PATIENT_FIELDS) :]
    row["documents"] = [json.loads(item) for item in documents]
    row["imaging_studies"] = [json.loads(item) for item in studies]
    row["structures"] = [json.loads(item) for item in structures]
    return row


def _json(value: Any) -> Any:
    # Django's PostgreSQL backend hands jsonb over as text and leaves decoding to the field.
    return json.loads(value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=32)
def _detail_sql(alias: str, names: tuple[str, ...]) -> str:
    """The single-query detail statement for equality filters on the Case fields `names`; parameters:
    the case id, then the filter values in the order of `names`.

    Every identifier comes from the models' metadata, quoted by the backend; no request data is
    ever formatted into it (the case id and filter values are parameters).
    """
    qn = connections[alias].ops.quote_name

    def table(model: type[models.Model], short: str) -> str:
        return f"{qn(model._meta.db_table)} {short}"

    def col(model: type[models.Model], short: str, name: str) -> str:
        return f"{short}.{qn(column(model, name))}"

    def json_rows(model: type[models.Model], short: str, fields: tuple[str, ...], rest: str) -> str:
        # Row keys are the serializer field names; `imaging_study_id` is the `imaging_study` column.
        pairs = ", ".join(f"'{name}', {col(model, short, name.removesuffix('_id'))}" for name in fields)
        return f"ARRAY(SELECT jsonb_build_object({pairs}) FROM {rest})"  # noqa: S608 - identifiers only

    case_id = col(Case, "c", "id")
    through = Document.cases.through
    documents = json_rows(
        Document,
        "d",
        DOCUMENT_FIELDS,
        f"{table(Document, 'd')} JOIN {table(through, 'dc')} ON {col(through, 'dc', 'document')} = "
        f"{col(Document, 'd', 'id')} WHERE {col(through, 'dc', 'case')} = {case_id} "
        f"ORDER BY {col(Document, 'd', 'created_at')}, {col(Document, 'd', 'id')}",
    )
    studies = json_rows(
        ImagingStudy,
        "s",
        STUDY_FIELDS,
        f"{table(ImagingStudy, 's')} WHERE {col(ImagingStudy, 's', 'case')} = {case_id} "
        f"ORDER BY {col(ImagingStudy, 's', 'acquired_at')}, {col(ImagingStudy, 's', 'id')}",
    )
    structures = json_rows(
        CaseStructure,
        "m",
        STRUCTURE_FIELDS,
        f"{table(CaseStructure, 'm')} WHERE {col(CaseStructure, 'm', 'case')} = {case_id} "
        f"ORDER BY {col(CaseStructure, 'm', 'imaging_study')}, {col(CaseStructure, 'm', 'name')}, "
        f"{col(CaseStructure, 'm', 'id')}",
    )
    where = " AND ".join([f"{case_id} = %s", *(f"{col(Case, 'c', name)} = %s" for name in names)])
    select = ", ".join(
        [
            *(col(Case, "c", name) for name in (*SUMMARY_FIELDS, "encounter", "clinical_summary")),
            *(col(Patient, "p", name) for name in PATIENT_FIELDS),
            documents,
            studies,
            structures,
        ]
    )
    return (
        f"SELECT {select} FROM {table(Case, 'c')} "  # noqa: S608 - identifiers only
        f"JOIN {table(Patient, 'p')} ON {col(Patient, 'p', 'id')} = {col(Case, 'c', 'patient')} "
        f"WHERE {where}"
    )
