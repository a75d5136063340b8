"""The single-query (PostgreSQL) and the portable (four-query) case detail render identically."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Case, Document
from cases.serializers import CaseDetailSerializer
from cases.services import reading as services
from imaging.models import ImagingStudy
from tests.factories import CaseFactory, CaseStructureFactory, DocumentFactory, ImagingStudyFactory

pytestmark = pytest.mark.django_db


def _render(row: dict) -> str:
    rendered = CaseDetailSerializer.represent(row, {"lightweight": False})
    # Signed URLs carry the second they were made; compare everything else.
    return re.sub(r"expires=\d+&signature=[0-9a-f]+", "expires=E&signature=S", repr(rendered))


def _awkward_case() -> Case:
    case = CaseFactory.create(title="Résection hépatique — ü", tags=["liver", "ünïcode"])
    for i, micro in enumerate([0, 500_000, 123_456]):
        document = DocumentFactory.create(cases=[case], metadata={"pages": i, "nested": {"x": [1.5, None, "ü"]}})
        Document.objects.filter(pk=document.pk).update(
            created_at=dt.datetime(2024, 1, 2, 3, 4, 5, micro, tzinfo=dt.UTC)
        )
    with_time = ImagingStudyFactory.create(
        case=case, acquired_at=dt.datetime(2023, 5, 6, 7, 8, 9, 100_000, tzinfo=dt.UTC)
    )
    ImagingStudyFactory.create(case=case, acquired_at=None, preview_uri="")
    CaseStructureFactory.create(case=case, imaging_study=with_time, name="tumour", metadata={"volume_ml": 12.0})
    CaseStructureFactory.create(case=case, imaging_study=with_time, name="liver", mesh_uri="")
    CaseStructureFactory.create(case=case, imaging_study=None, name="unassigned")
    return case


def test_both_paths_render_the_same_case():
    case = _awkward_case()
    single = services.case_detail_single_query(filters={}, case_id=case.pk, using="default")
    portable = services.case_detail_portable(filters={}, case_id=case.pk, using="default")
    assert single is not None
    assert portable is not None
    assert len(portable["documents"]) == 3
    assert len(portable["imaging_studies"]) == 2
    assert [s["name"] for s in portable["structures"]] == ["liver", "tumour", "unassigned"]
    assert _render(single) == _render(portable)


def test_both_paths_agree_on_hidden_cases():
    case = CaseFactory.create(status=Case.Status.DRAFT)
    published = {"status": Case.Status.PUBLISHED}
    assert services.case_detail_single_query(filters=published, case_id=case.pk, using="default") is None
    assert services.case_detail_portable(filters=published, case_id=case.pk, using="default") is None


def test_single_query_is_one_query_however_many_rows():
    case = _awkward_case()
    ImagingStudyFactory.create_batch(20, case=case)
    with CaptureQueriesContext(connection) as queries:
        row = services.case_detail(filters={}, case_id=case.pk, using="default")
    assert len(queries.captured_queries) == 1
    assert row is not None
    assert len(row["imaging_studies"]) == ImagingStudy.objects.filter(case=case).count()
