"""The admin search boxes of cases and documents: full-text on PostgreSQL, containment for identifiers."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client

from tests.factories import PatientFactory
from tests.search.helpers import make_case, make_document

pytestmark = pytest.mark.django_db

CASES = "/admin/cases/case/"
DOCUMENTS = "/admin/cases/document/"


def found(client: Client, url: str, query: str) -> set[int]:
    response = client.get(url + "?" + urlencode({"q": query}))
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def test_case_search_uses_stemming_accents_and_the_documents_text(admin_client):
    by_document = make_case(title="Hilar lesion")
    make_document(by_document, full_text="The Klätskin tumour was resected en bloc.")
    by_summary = make_case(title="Liver", clinical_summary="Resection of segment VII.")
    make_case(title="Unrelated")

    assert found(admin_client, CASES, "resected") == {by_document.pk, by_summary.pk}
    assert found(admin_client, CASES, "klatskin") == {by_document.pk}
    assert found(admin_client, CASES, '"segment VII"') == {by_summary.pk}
    assert found(admin_client, CASES, "resection -klatskin") == {by_summary.pk}


def test_case_search_still_finds_slugs_mrns_and_title_fragments(admin_client):
    case = make_case(
        title="Extended right hepatectomy", slug="klatskin-bismuth-iiia", patient=PatientFactory.create(mrn="SYN-77")
    )
    make_case(title="Other")

    assert found(admin_client, CASES, "bismuth-iii") == {case.pk}
    assert found(admin_client, CASES, "SYN-77") == {case.pk}
    assert found(admin_client, CASES, "hepatec") == {case.pk}  # not a word: containment in the title


def test_case_autocomplete_keeps_prefix_matching(admin_client):
    case = make_case(title="Whipple for pancreatic head mass")
    make_case(title="Other")
    response = admin_client.get(
        "/admin/autocomplete/",
        {"term": "whip", "app_label": "cases", "model_name": "document", "field_name": "cases"},
    )

    assert response.status_code == 200
    assert [int(item["id"]) for item in response.json()["results"]] == [case.pk]


def test_document_search(admin_client):
    case = make_case()
    report = make_document(case, title="CT report", slug="ct-2024-001", full_text="Hépatico-jéjunostomie stricture.")
    make_document(case, title="Letter", full_text="Nothing here.")

    assert found(admin_client, DOCUMENTS, "hepatico-jejunostomie") == {report.pk}
    assert found(admin_client, DOCUMENTS, "strictures") == {report.pk}
    assert found(admin_client, DOCUMENTS, "2024-00") == {report.pk}


@pytest.mark.parametrize("query", ["' OR 1=1 --", '"unbalanced', "-", "the", "\\", "😀 שלום", "a\x00b", "-" * 600])
def test_odd_admin_searches_answer(admin_client, query):
    make_case(title="Case")

    for url in (CASES, DOCUMENTS):
        assert admin_client.get(url + "?" + urlencode({"q": query})).status_code == 200


def test_an_overlong_search_warns_and_keeps_the_containment_part(admin_client):
    case = make_case(title="x" * 150, slug="long")

    response = admin_client.get(CASES + "?" + urlencode({"q": "x" * 501}))

    assert response.status_code == 200
    assert any("Full-text search skipped" in str(m) for m in response.context["messages"])
    assert {obj.pk for obj in response.context["cl"].result_list} == set() != {case.pk}
