"""The case list and detail pin DESIGN.md's field names and types; paging, ordering and filters."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.utils import timezone

from cases.models import Case
from tests.api.conftest import make_case_with_files
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

SUMMARY_TYPES = {
    "id": int,
    "slug": str,
    "title": str,
    "focus": str,
    "specialty": str,
    "created_at": str,
    "updated_at": str,
    "status": str,
    "lightweight": bool,
    "tags": list,
}
DESIGN_SUMMARY = {"id", "slug", "title", "focus", "specialty", "created_at"}
DESIGN_DETAIL = DESIGN_SUMMARY | {
    "patient",
    "encounter_id",
    "clinical_summary",
    "tags",
    "documents",
    "imaging_studies",
    "structures",
}
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _check_types(item: dict, types: dict) -> None:
    assert set(item) == set(types), f"unexpected fields {set(item) ^ set(types)}"
    for name, expected in types.items():
        value = item[name]
        if isinstance(expected, tuple) and type(None) in expected and value is None:
            continue
        assert isinstance(value, expected), f"{name}={value!r} is not {expected}"
        if expected is bool:
            continue
        if name.endswith("_at") and value is not None:
            assert ISO_DATETIME.match(value), f"{name}={value!r} is not ISO 8601"


def test_list_is_an_array_of_summaries_with_the_contract_fields(user_client):
    case = CaseFactory.create(tags=["liver", "CRLM"])
    response = user_client.get("/api/v1/cases")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body, list)
    assert len(body) == 1
    item = body[0]
    assert set(item) >= DESIGN_SUMMARY
    _check_types(item, SUMMARY_TYPES)
    assert item["id"] == case.pk
    assert item["slug"] == case.slug
    assert item["title"] == case.title
    assert item["focus"] == case.focus
    assert item["specialty"] == "HPB"
    assert item["status"] == "published"
    assert item["tags"] == ["liver", "CRLM"]


def test_detail_has_every_design_field_with_its_type(user_client):
    data = make_case_with_files(n_documents=2, n_structures=3)
    response = user_client.get(f"/api/v1/cases/{data.case.pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= DESIGN_DETAIL
    _check_types(
        {k: body[k] for k in SUMMARY_TYPES},
        SUMMARY_TYPES,
    )
    assert set(body) == set(SUMMARY_TYPES) | DESIGN_DETAIL
    assert body["encounter_id"] == data.case.encounter_id
    assert body["clinical_summary"] == data.case.clinical_summary

    patient = data.case.patient
    assert patient.date_of_birth is not None
    assert body["patient"] == {
        "id": patient.pk,
        "mrn": patient.mrn,
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
    }

    assert len(body["documents"]) == 2
    for document in body["documents"]:
        _check_types(
            document,
            {
                "id": int,
                "slug": str,
                "title": str,
                "summary": str,
                "mime_type": str,
                "storage_uri": str,
                "metadata": dict,
                "created_at": str,
            },
        )
    assert {d["metadata"]["pages"] for d in body["documents"]} == {1, 2}

    (study,) = body["imaging_studies"]
    _check_types(
        study,
        {
            "id": int,
            "label": str,
            "modality": str,
            "volume_uri": str,
            "preview_uri": str,
            "format": str,
            "metadata": dict,
            "acquired_at": (str, type(None)),
        },
    )
    assert study["format"] == "vti"
    assert study["metadata"] == data.study.metadata

    assert len(body["structures"]) == 3
    for structure in body["structures"]:
        _check_types(
            structure,
            {"id": int, "name": str, "color_hex": str, "mesh_uri": str, "metadata": dict, "imaging_study_id": int},
        )
        assert structure["imaging_study_id"] == data.study.pk
    assert [s["name"] for s in body["structures"]] == ["structure-0", "structure-1", "structure-2"]


def test_detail_with_nothing_attached_uses_nulls_and_empty_lists(user_client):
    case = CaseFactory.create(encounter=None)
    case.patient.date_of_birth = None
    case.patient.save()
    body = user_client.get(f"/api/v1/cases/{case.pk}").json()
    assert body["encounter_id"] is None
    assert body["patient"]["date_of_birth"] is None
    assert body["documents"] == []
    assert body["imaging_studies"] == []
    assert body["structures"] == []


def test_study_without_files_has_null_urls(user_client):
    from tests.factories import ImagingStudyFactory

    study = ImagingStudyFactory.create(volume_uri="", preview_uri="", acquired_at=None)
    body = user_client.get(f"/api/v1/cases/{study.case_id}").json()
    (item,) = body["imaging_studies"]
    assert item["volume_uri"] is None
    assert item["preview_uri"] is None
    assert item["acquired_at"] is None


def _make_cases(n: int, **kwargs: Any) -> list[Case]:
    """n cases with distinct created_at, the first one oldest."""
    cases = CaseFactory.create_batch(n, **kwargs)
    base = timezone.now() - dt.timedelta(days=n)
    for i, case in enumerate(cases):
        Case.objects.filter(pk=case.pk).update(created_at=base + dt.timedelta(hours=i))
    return cases


def test_list_is_newest_first(user_client):
    cases = _make_cases(4)
    ids = [item["id"] for item in user_client.get("/api/v1/cases").json()]
    assert ids == [c.pk for c in reversed(cases)]


def test_paging_headers_and_links(user_client):
    cases = list(reversed(_make_cases(7)))
    response = user_client.get("/api/v1/cases?limit=3&offset=3&tag=liver")
    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [c.pk for c in cases[3:6]]
    assert response["X-Total-Count"] == "7"
    links = {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response["Link"])}
    assert set(links) == {"first", "prev", "next", "last"}
    assert links["next"] == "http://testserver/api/v1/cases?limit=3&offset=6&tag=liver"
    assert links["prev"] == "http://testserver/api/v1/cases?limit=3&tag=liver"
    assert links["first"] == "http://testserver/api/v1/cases?limit=3&tag=liver"
    assert links["last"] == "http://testserver/api/v1/cases?limit=3&offset=6&tag=liver"

    # Following `next` gives the last page, which has no `next`.
    last = user_client.get(links["next"])
    assert [item["id"] for item in last.json()] == [cases[6].pk]
    assert 'rel="next"' not in last["Link"]


def test_default_limit_is_25(user_client):
    _make_cases(27)
    response = user_client.get("/api/v1/cases")
    assert len(response.json()) == 25
    assert response["X-Total-Count"] == "27"
    assert "offset=25" in response["Link"]


def test_limit_100_is_allowed(user_client):
    _make_cases(2)
    assert user_client.get("/api/v1/cases?limit=100").status_code == 200


@pytest.mark.parametrize(
    ("query", "param", "fragment"),
    [
        ("limit=101", "limit", "at most 100"),
        ("limit=0", "limit", "at least 1"),
        ("limit=ten", "limit", "Expected an integer"),
        ("offset=-1", "offset", "at least 0"),
        ("offset=1.5", "offset", "Expected an integer"),
    ],
)
def test_bad_paging_values_are_400_with_a_message(user_client, query, param, fragment):
    response = user_client.get(f"/api/v1/cases?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert fragment in body["detail"]
    assert fragment in body["errors"][param][0]


def test_offset_past_the_end_is_an_empty_page(user_client):
    _make_cases(2)
    response = user_client.get("/api/v1/cases?offset=50")
    assert response.json() == []
    assert response["X-Total-Count"] == "2"
    assert 'rel="prev"' in response["Link"]


def test_specialty_defaults_to_hpb_and_can_be_chosen(user_client):
    hpb = CaseFactory.create()
    other = CaseFactory.create(specialty="Colorectal")
    assert [c["id"] for c in user_client.get("/api/v1/cases").json()] == [hpb.pk]
    assert [c["id"] for c in user_client.get("/api/v1/cases?specialty=").json()] == [hpb.pk]
    assert [c["id"] for c in user_client.get("/api/v1/cases?specialty=Colorectal").json()] == [other.pk]


def test_tag_filter_matches_whole_tags(user_client):
    liver = CaseFactory.create(tags=["liver", "CRLM"])
    CaseFactory.create(tags=["pancreas"])
    CaseFactory.create(tags=["liver-transplant"])
    response = user_client.get("/api/v1/cases?tag=liver")
    assert [c["id"] for c in response.json()] == [liver.pk]
    assert response["X-Total-Count"] == "1"
    assert user_client.get("/api/v1/cases?tag=x" + "y" * 80).status_code == 400


def test_q_matches_title_and_summary_case_insensitively(user_client):
    whipple = CaseFactory.create(title="Whipple for PDAC", clinical_summary="Head of pancreas.")
    klatskin = CaseFactory.create(title="Hilar resection", clinical_summary="Klatskin tumour, Bismuth IIIa.")
    CaseFactory.create(title="Right hepatectomy", clinical_summary="CRLM in segment 7.")
    assert [c["id"] for c in user_client.get("/api/v1/cases?q=whipple").json()] == [whipple.pk]
    assert [c["id"] for c in user_client.get("/api/v1/cases?q=KLATSKIN").json()] == [klatskin.pk]
    assert user_client.get("/api/v1/cases?q=nothing-like-this").json() == []


def test_unfiltered_list_equals_the_explicit_default_filter(user_client):
    """The no-parameter shortcut (CaseFilterBackend) gives what django-filter gives."""
    CaseFactory.create_batch(3)
    CaseFactory.create(specialty="Colorectal")
    CaseFactory.create(status=Case.Status.DRAFT)
    plain = user_client.get("/api/v1/cases")
    explicit = user_client.get("/api/v1/cases?specialty=HPB")
    assert plain.json() == explicit.json()
    assert plain["X-Total-Count"] == explicit["X-Total-Count"] == "3"


@pytest.mark.parametrize(
    "query", ["q=%00", "tag=a%00b", "specialty=%00", "status=%00", "q=" + "x" * 501, "q=", "q=%20%20"]
)
def test_unusable_filter_values_are_400_not_500(user_client, query):
    CaseFactory.create()
    response = user_client.get(f"/api/v1/cases?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
