"""Curation of cases, documents, patients and encounters in the admin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Document, Encounter, Patient
from tests.admin_helpers import assert_queries_do_not_grow, change_form_data
from tests.factories import (
    CaseFactory,
    CaseStructureFactory,
    DocumentFactory,
    EncounterFactory,
    ImagingStudyFactory,
    PatientFactory,
)
from tests.pdfs import make_blank_pdf, make_pdf

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db

CASES = reverse("admin:cases_case_changelist")
DOCUMENTS = reverse("admin:cases_document_changelist")
PATIENTS = reverse("admin:cases_patient_changelist")
ENCOUNTERS = reverse("admin:cases_encounter_changelist")


def full_case(**kwargs: Any) -> Case:
    """A case with an encounter, a document, a study and two structures."""
    case = CaseFactory.create(**kwargs)
    case.encounter = EncounterFactory.create(patient=case.patient)
    case.save()
    DocumentFactory.create(cases=[case])
    study = ImagingStudyFactory.create(case=case)
    CaseStructureFactory.create_batch(2, imaging_study=study)
    return case


def _messages(response: TestResponse) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _result_ids(response: TestResponse) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


# --- Case list ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?status__exact=published",
        "?tag=liver",
        "?q=synthetic",
        "?lightweight__exact=0",
        "?o=8",  # ordered by the document count column
    ],
)
def test_case_changelist_has_no_per_row_queries(admin_client, query):
    full_case()
    assert_queries_do_not_grow(admin_client, CASES + query, lambda n: [full_case() for _ in range(n)])


def test_case_changelist_shows_counts_and_patient(admin_client):
    case = full_case(title="Whipple for PDAC", tags=["pancreas", "pdac"])
    DocumentFactory.create(cases=[case])
    response = admin_client.get(CASES)
    row = response.context["cl"].result_list[0]
    assert (row.n_documents, row.n_studies, row.n_structures) == (2, 1, 2)
    html = response.content.decode()
    assert "Whipple for PDAC" in html
    assert case.patient.mrn in html
    assert "pancreas, pdac" in html


def test_tag_filter_lists_tags_with_counts_and_filters_exactly(admin_client):
    hcc = CaseFactory.create(tags=["liver", "hcc"])
    CaseFactory.create(tags=["liver-transplant"])
    pdac = CaseFactory.create(tags=["pancreas"])
    response = admin_client.get(CASES)
    tag_filter = next(f for f in response.context["cl"].filter_specs if getattr(f, "parameter_name", "") == "tag")
    assert ("liver", "liver (1)") in tag_filter.lookup_choices
    assert _result_ids(admin_client.get(CASES + "?tag=liver")) == {hcc.pk}
    assert _result_ids(admin_client.get(CASES + "?tag=pancreas")) == {pdac.pk}
    assert _result_ids(admin_client.get(CASES + "?tag=nothing")) == set()


def test_case_list_filters(admin_client):
    old = CaseFactory.create(status="draft", specialty="HPB", lightweight=True)
    Case.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=400))
    new = CaseFactory.create(status="published", specialty="Transplant")
    assert _result_ids(admin_client.get(CASES + "?status__exact=draft")) == {old.pk}
    assert _result_ids(admin_client.get(CASES + "?specialty=Transplant")) == {new.pk}
    assert _result_ids(admin_client.get(CASES + "?lightweight__exact=1")) == {old.pk}
    assert _result_ids(admin_client.get(CASES + f"?patient__id__exact={new.patient_id}")) == {new.pk}
    since = str(timezone.now() - dt.timedelta(days=7))
    assert _result_ids(admin_client.get(CASES + "?" + urlencode({"created_at__gte": since}))) == {new.pk}


@pytest.mark.parametrize("field", ["title", "slug", "mrn", "summary"])
def test_case_search(admin_client, field):
    case = CaseFactory.create(
        title="Extended right hepatectomy",
        slug="klatskin-bismuth-iiia",
        patient=PatientFactory.create(mrn="SYN-424242"),
        clinical_summary="Perihilar stricture with portal vein contact",
    )
    CaseFactory.create(focus="Distal pancreatectomy")  # full-text search covers the focus too (PostgreSQL)
    term = {"title": "right hepatectomy", "slug": "bismuth-iiia", "mrn": "SYN-424242", "summary": "portal vein contact"}
    assert _result_ids(admin_client.get(CASES + "?" + urlencode({"q": term[field]}))) == {case.pk}


# --- Case actions ------------------------------------------------------------------------------


def _act(client: Client, action: str, cases: Iterable[Case]) -> TestResponse:
    return client.post(CASES, {"action": action, "_selected_action": [c.pk for c in cases], "index": 0}, follow=True)


def test_publish_action_publishes_and_says_so(admin_client):
    drafts = CaseFactory.create_batch(2, status="draft")
    already = CaseFactory.create(status="published")
    response = _act(admin_client, "publish_selected", [*drafts, already])
    assert response.status_code == 200
    assert set(Case.objects.values_list("status", flat=True)) == {"published"}
    assert "2 cases published. 1 already was published." in _messages(response)


def test_archive_action_archives(admin_client):
    case = CaseFactory.create(status="published")
    response = _act(admin_client, "archive_selected", [case])
    case.refresh_from_db()
    assert case.status == "archived"
    assert "1 case archived." in _messages(response)


def test_return_to_draft_and_nothing_to_do(admin_client):
    case = CaseFactory.create(status="draft")
    response = _act(admin_client, "return_to_draft", [case])
    assert "Nothing to do: the selected cases were already returned to draft." in _messages(response)


def test_actions_need_change_permission(client, staff_user):
    from django.contrib.auth.models import Permission

    staff_user.user_permissions.add(Permission.objects.get(codename="view_case"))
    client.force_login(staff_user)
    case = CaseFactory.create(status="draft")
    response = client.get(CASES)
    assert response.status_code == 200
    assert "publish_selected" not in response.content.decode()
    _act(client, "publish_selected", [case])
    case.refresh_from_db()
    assert case.status == "draft"


# --- Case form ---------------------------------------------------------------------------------


def test_case_change_form_has_no_per_row_queries(admin_client):
    case = full_case()
    url = reverse("admin:cases_case_change", args=[case.pk])

    def add_rows(n: int) -> None:
        for _ in range(n):
            DocumentFactory.create(cases=[case])
            study = ImagingStudyFactory.create(case=case)
            CaseStructureFactory.create(imaging_study=study)
            EncounterFactory.create(patient=case.patient)

    assert_queries_do_not_grow(admin_client, url, add_rows)


def test_case_add_form_has_no_per_row_queries(admin_client):
    full_case()
    assert_queries_do_not_grow(admin_client, reverse("admin:cases_case_add"), lambda n: [full_case() for _ in range(n)])


def test_case_form_shows_derived_fields_read_only(admin_client):
    case = full_case()
    study = case.imaging_studies.get()
    response = admin_client.get(reverse("admin:cases_case_change", args=[case.pk]))
    html = response.content.decode()
    inlines = {i.formset.prefix: i for i in response.context["inline_admin_formsets"]}
    assert set(inlines) == {"Document_cases", "imaging_studies", "structures", "viewer_bundle"}
    study_form = inlines["imaging_studies"].formset.forms[0]
    assert {"label", "modality", "acquired_at"} <= set(study_form.fields)
    assert not {"volume_uri", "preview_uri", "metadata", "format"} & set(study_form.fields)
    structure_form = inlines["structures"].formset.forms[0]
    assert not {"mesh_uri", "metadata", "imaging_study"} & set(structure_form.fields)
    assert "64 × 64 × 32 @ 0.80 × 0.80 × 2.50 mm" in html
    assert f"/files/assets/cases/x/studies/{study.volume_uri.rsplit('/', 2)[1]}/volume.vti?expires=" in html
    assert "Download .vtp" in html
    assert "storage://" not in html  # raw references never reach the page


def test_case_can_be_saved_unchanged_and_tags_are_edited_as_text(admin_client):
    case = full_case(tags=["liver", "hcc"])
    url = reverse("admin:cases_case_change", args=[case.pk])
    data = change_form_data(admin_client.get(url))
    assert data["tags"] == "liver, hcc"
    data["tags"] = " liver , segmentectomy,, liver "
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    case.refresh_from_db()
    assert case.tags == ["liver", "segmentectomy"]
    assert case.documents.count() == 1
    assert case.structures.count() == 2


def test_case_form_links_and_unlinks_documents(admin_client):
    case = full_case()
    linked = case.documents.get()
    other = DocumentFactory.create(title="Pathology")
    url = reverse("admin:cases_case_change", args=[case.pk])
    data = change_form_data(admin_client.get(url))
    data["link_documents"] = [str(other.pk)]
    data["Document_cases-0-DELETE"] = "on"
    response = admin_client.post(url, data)
    assert response.status_code == 302
    assert list(case.documents.all()) == [other]
    assert Document.objects.filter(pk=linked.pk).exists()  # unlinked, not deleted


def test_case_form_renames_a_structure_and_refuses_a_bad_colour(admin_client):
    case = full_case()
    url = reverse("admin:cases_case_change", args=[case.pk])
    data = change_form_data(admin_client.get(url))
    data["structures-0-name"] = "portal vein"
    data["structures-0-color_hex"] = "blue"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "Enter a colour as #RRGGBB" in response.content.decode()
    data["structures-0-color_hex"] = "#1E90FF"
    assert admin_client.post(url, data).status_code == 302
    assert case.structures.filter(name="portal vein", color_hex="#1E90FF").exists()


def test_case_add_form_creates_a_case(admin_client):
    patient = PatientFactory.create()
    encounter = EncounterFactory.create(patient=patient)
    response = admin_client.get(reverse("admin:cases_case_add"))
    assert f"{patient} · {encounter}" in response.content.decode()
    data = change_form_data(response)
    data.update(
        title="Gallbladder cancer re-resection",
        slug="gbc-01",
        patient=str(patient.pk),
        encounter=str(encounter.pk),
        tags="gallbladder, incidental",
        status="draft",
        specialty="HPB",
    )
    response = admin_client.post(reverse("admin:cases_case_add"), data)
    assert response.status_code == 302
    case = Case.objects.get(slug="gbc-01")
    assert case.tags == ["gallbladder", "incidental"]
    assert case.encounter == encounter


def test_case_form_refuses_another_patients_encounter(admin_client):
    patient = PatientFactory.create()
    stranger_encounter = EncounterFactory.create()
    data = change_form_data(admin_client.get(reverse("admin:cases_case_add")))
    data.update(title="x", slug="x", patient=str(patient.pk), encounter=str(stranger_encounter.pk), status="draft")
    response = admin_client.post(reverse("admin:cases_case_add"), data)
    assert response.status_code == 200
    assert "another patient" in response.content.decode()
    assert not Case.objects.exists()


# --- Documents ---------------------------------------------------------------------------------


def test_document_changelist_has_no_per_row_queries(admin_client):
    case = CaseFactory.create()
    DocumentFactory.create(cases=[case])
    for query in ("", "?mime_type=text%2Fplain", "?q=report"):
        assert_queries_do_not_grow(
            admin_client, DOCUMENTS + query, lambda n: DocumentFactory.create_batch(n, cases=[CaseFactory.create()])
        )


def test_document_change_and_add_forms_have_no_per_row_queries(admin_client):
    document = DocumentFactory.create(cases=[CaseFactory.create()])
    url = reverse("admin:cases_document_change", args=[document.pk])
    assert_queries_do_not_grow(admin_client, url, lambda n: document.cases.add(*CaseFactory.create_batch(n)))
    assert_queries_do_not_grow(
        admin_client, reverse("admin:cases_document_add"), lambda n: DocumentFactory.create_batch(n)
    )


def _upload_pdf(admin_client, case, *, filename="MDT outcome.pdf", content=None):
    content = content if content is not None else make_pdf("Tumour board: resectable pancreatic head cancer.")
    data = {
        "title": "Tumour board outcome",
        "slug": "pdac-mdt",
        "summary": "Resectable.",
        "cases": [str(case.pk)],
        "upload": SimpleUploadedFile(filename, content, content_type="application/octet-stream"),
    }
    return admin_client.post(reverse("admin:cases_document_add"), data, follow=True)


def test_document_upload_stores_the_pdf_and_extracts_its_text(admin_client, local_storage):
    case = CaseFactory.create()
    content = make_pdf("Tumour board: resectable pancreatic head cancer.")
    response = _upload_pdf(admin_client, case, content=content)
    assert response.status_code == 200
    document = Document.objects.get(slug="pdac-mdt")
    assert document.mime_type == "application/pdf"
    assert "resectable pancreatic head cancer" in document.full_text
    assert document.storage_uri == "storage://documents/documents/pdac-mdt/mdt-outcome.pdf"
    assert (local_storage / "documents/documents/pdac-mdt/mdt-outcome.pdf").read_bytes() == content
    assert document.metadata["size_bytes"] == len(content)
    assert list(document.cases.all()) == [case]

    # The change page links to the file through a signed URL that serves it.
    page = admin_client.get(reverse("admin:cases_document_change", args=[document.pk])).content.decode()
    link = page.split('href="/files/documents/documents/pdac-mdt/mdt-outcome.pdf?', 1)[1].split('"', 1)[0]
    served = admin_client.get("/files/documents/documents/pdac-mdt/mdt-outcome.pdf?" + link.replace("&amp;", "&"))
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == content
    assert "resectable pancreatic head cancer" in page  # extracted text preview


def test_document_upload_keeps_patient_identifiers_out_of_the_key(admin_client, local_storage):
    case = CaseFactory.create(patient=PatientFactory.create(mrn="SYN-777123", last_name="Thornbury"))
    _upload_pdf(admin_client, case, filename="Thornbury SYN-777123 MDT.pdf")
    document = Document.objects.get(slug="pdac-mdt")
    assert document.storage_uri == "storage://documents/documents/pdac-mdt/pdac-mdt.pdf"
    stored = [str(p.relative_to(local_storage)) for p in local_storage.rglob("*") if p.is_file()]
    assert stored == ["documents/documents/pdac-mdt/pdac-mdt.pdf"]


def test_scanned_pdf_upload_warns_that_it_is_not_searchable(admin_client, local_storage):
    response = _upload_pdf(admin_client, CaseFactory.create(), content=make_blank_pdf())
    assert Document.objects.get(slug="pdac-mdt").full_text == ""
    assert any("not searchable" in m for m in _messages(response))


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary"),
        ("broken.pdf", b"%PDF-1.4 not really", "could not be read"),
        ("page.html", b"<script>alert(1)</script>", "not accepted"),
    ],
)
def test_bad_uploads_get_a_form_error_and_store_nothing(admin_client, local_storage, filename, content, message):
    response = _upload_pdf(admin_client, CaseFactory.create(), filename=filename, content=content)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Document.objects.exists()
    assert not any(p.is_file() for p in local_storage.rglob("*"))


def test_new_document_needs_a_file(admin_client):
    data = {"title": "No file", "slug": "no-file", "summary": ""}
    response = admin_client.post(reverse("admin:cases_document_add"), data)
    assert response.status_code == 200
    assert "Choose the file of the new document." in response.content.decode()


def test_reupload_replaces_the_file_and_text(admin_client, local_storage, django_capture_on_commit_callbacks):
    _upload_pdf(admin_client, CaseFactory.create())
    document = Document.objects.get(slug="pdac-mdt")
    url = reverse("admin:cases_document_change", args=[document.pk])
    data = change_form_data(admin_client.get(url))
    data["upload"] = SimpleUploadedFile("addendum.txt", "Addendum: SMV contact 90°.".encode())
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url, data).status_code == 302
    document.refresh_from_db()
    assert document.mime_type == "text/plain"
    assert document.full_text == "Addendum: SMV contact 90°."
    files = sorted(str(p.relative_to(local_storage)) for p in local_storage.rglob("*") if p.is_file())
    assert files == ["documents/documents/pdac-mdt/addendum.txt"]


def test_document_search_covers_the_extracted_text(admin_client):
    match = DocumentFactory.create(full_text="Bismuth-Corlette IIIa stricture")
    DocumentFactory.create(full_text="Something else")
    assert _result_ids(admin_client.get(DOCUMENTS + "?q=Corlette")) == {match.pk}


# --- Patients and encounters -------------------------------------------------------------------


def test_patient_changelist_has_no_per_row_queries(admin_client):
    full_case()
    assert_queries_do_not_grow(admin_client, PATIENTS, lambda n: [full_case() for _ in range(n)])
    assert_queries_do_not_grow(admin_client, PATIENTS + "?q=SYN", lambda n: [full_case() for _ in range(n)])


def test_patient_change_form_lists_encounters_and_cases_without_per_row_queries(admin_client):
    case = full_case(title="Right hepatectomy for CRLM")
    patient = case.patient
    url = reverse("admin:cases_patient_change", args=[patient.pk])

    def add_rows(n: int) -> None:
        CaseFactory.create_batch(n, patient=patient)
        EncounterFactory.create_batch(n, patient=patient)

    assert_queries_do_not_grow(admin_client, url, add_rows)
    response = admin_client.get(url)
    inlines = {i.formset.prefix: i.formset for i in response.context["inline_admin_formsets"]}
    assert len(inlines["encounters"].forms) == 5
    assert len(inlines["cases"].forms) == 5
    assert "Right hepatectomy for CRLM" in response.content.decode()
    assert admin_client.get(reverse("admin:cases_patient_add")).status_code == 200


def test_patient_counts_and_search(admin_client):
    case = full_case(patient=PatientFactory.create(mrn="SYN-31337", last_name="Greywater"))
    CaseFactory.create(patient=case.patient)
    response = admin_client.get(PATIENTS + "?q=Greywater")
    (row,) = response.context["cl"].result_list
    assert (row.n_cases, row.n_encounters) == (2, 1)
    assert _result_ids(admin_client.get(PATIENTS + "?q=SYN-31337")) == {case.patient_id}


def test_encounter_inline_refuses_an_end_before_the_start(admin_client):
    encounter = EncounterFactory.create()
    url = reverse("admin:cases_patient_change", args=[encounter.patient_id])
    data = change_form_data(admin_client.get(url))
    start = encounter.started_at
    assert start is not None
    data["encounters-0-ended_at_0"] = (start - dt.timedelta(days=1)).date().isoformat()
    data["encounters-0-ended_at_1"] = "08:00:00"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors[0]
    ended = Encounter.objects.get(pk=encounter.pk).ended_at
    assert ended is not None and ended > start


def test_patient_cannot_be_deleted_while_it_has_cases(admin_client):
    case = CaseFactory.create()
    response = admin_client.post(reverse("admin:cases_patient_delete", args=[case.patient_id]), {"post": "yes"})
    assert response.status_code == 200  # Django shows the "protected objects" page instead of deleting
    assert Patient.objects.filter(pk=case.patient_id).exists()


def test_encounter_admin_pages(admin_client):
    encounter = EncounterFactory.create()
    assert_queries_do_not_grow(admin_client, ENCOUNTERS, lambda n: EncounterFactory.create_batch(n))
    assert admin_client.get(reverse("admin:cases_encounter_change", args=[encounter.pk])).status_code == 200
    assert admin_client.get(reverse("admin:cases_encounter_add")).status_code == 200
