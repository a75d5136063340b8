"""When bundles appear and go: publish / archive / draft through the admin's actions and its change form,
edits of a published case's structures and documents, ingest success; and the debounce."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from cases.models import Case
from cases.services import archive_cases, publish_cases, set_case_status
from hpb import storage
from imaging.models import CaseStructure, ViewerBundle
from imaging.services import bundles, bundles_storage, enqueue
from tests.admin_helpers import change_form_data
from tests.factories import DocumentFactory, SuperUserFactory
from tests.viewer.conftest import BundleCase, make_bundle_case

pytestmark = pytest.mark.django_db


def _folder(case: Case) -> str:
    return (
        bundles.folder_name(case.pk)
        if not ViewerBundle.objects.filter(case=case).exists()
        else case.viewer_bundle.folder
    )


def _manifest(case: Case) -> dict[str, Any] | None:
    key = bundles.folder_prefix(_folder(case)) + "manifest.json"
    if key not in bundles_storage.list_keys(bundles.folder_prefix(_folder(case))):
        return None
    return json.loads(bundles_storage.read_bytes(storage.reference_for("viewer", key)))


@pytest.fixture
def draft(viewer_local: Any, django_capture_on_commit_callbacks: Any) -> BundleCase:
    with django_capture_on_commit_callbacks(execute=True):
        made = make_bundle_case(status=Case.Status.DRAFT)
    return made


def test_publish_archive_and_draft_through_the_services(
    draft: BundleCase, django_capture_on_commit_callbacks: Any
) -> None:
    case = draft.case
    assert _manifest(case) is None  # a draft has no bundle, even with imaging and documents

    with django_capture_on_commit_callbacks(execute=True):
        publish_cases(cases=Case.objects.filter(pk=case.pk))
    published = _manifest(case)
    assert published is not None and published["title"] == case.title

    with django_capture_on_commit_callbacks(execute=True):
        archive_cases(cases=Case.objects.filter(pk=case.pk))
    assert _manifest(case) is None
    assert bundles_storage.list_keys(bundles.folder_prefix(_folder(case))) == {}

    with django_capture_on_commit_callbacks(execute=True):
        publish_cases(cases=Case.objects.filter(pk=case.pk))
    again = _manifest(case)
    assert again is not None and again["case_id"] == published["case_id"]  # the same folder as before

    with django_capture_on_commit_callbacks(execute=True):
        set_case_status(cases=Case.objects.filter(pk=case.pk), status=Case.Status.DRAFT)
    assert _manifest(case) is None


def test_the_admin_actions_and_the_change_form_publish_and_remove(
    draft: BundleCase, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(SuperUserFactory.create())
    changelist = reverse("admin:cases_case_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "publish_selected", "_selected_action": [draft.case.pk]})
    assert _manifest(draft.case) is not None

    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "archive_selected", "_selected_action": [draft.case.pk]})
    assert _manifest(draft.case) is None

    url = reverse("admin:cases_case_change", args=[draft.case.pk])
    data = change_form_data(client.get(url))
    data.update({"status": "published", "title": "Right hepatectomy, second look"})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    manifest = _manifest(draft.case)
    assert manifest is not None and manifest["title"] == "Right hepatectomy, second look"

    data = change_form_data(client.get(url))
    data["status"] = "draft"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, data)
    assert _manifest(draft.case) is None


def test_edits_of_a_published_case_rebuild_its_bundle(
    draft: BundleCase, django_capture_on_commit_callbacks: Any
) -> None:
    case = draft.case
    with django_capture_on_commit_callbacks(execute=True):
        publish_cases(cases=Case.objects.filter(pk=case.pk))

    structure = CaseStructure.objects.get(case=case, name="tumour")
    with django_capture_on_commit_callbacks(execute=True):
        structure.name = "colorectal metastasis"
        structure.save()
    manifest = _manifest(case)
    assert manifest is not None and "colorectal metastasis" in manifest["meshes"] and "tumour" not in manifest["meshes"]

    document = draft.documents["private"]
    with django_capture_on_commit_callbacks(execute=True):
        document.deidentified = True
        document.save()
    manifest = _manifest(case)
    assert manifest is not None and document.title in {d["title"] for d in manifest["documents"]}

    with django_capture_on_commit_callbacks(execute=True):
        document.cases.remove(case)
    manifest = _manifest(case)
    assert manifest is not None and document.title not in {d["title"] for d in manifest["documents"]}

    with django_capture_on_commit_callbacks(execute=True):
        structure.delete()
    manifest = _manifest(case)
    assert manifest is not None and "colorectal metastasis" not in manifest["meshes"]


def test_a_new_ingest_of_a_published_case_republishes_it(
    viewer_local: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        made = make_bundle_case(imaging=False)
    before = _manifest(made.case)
    assert before is not None and "volume" not in before and before["meshes"] == {}

    from imaging.services.seeding import seed_case_imaging

    with django_capture_on_commit_callbacks(execute=True):
        seed_case_imaging(case=made.case, size="small", seed=11)
    after = _manifest(made.case)
    assert after is not None and after["volume"]["dimensions"] == [96, 96, 48] and len(after["meshes"]) == 6


def test_several_changes_in_one_transaction_ask_for_one_rebuild(
    viewer_local: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        made = make_bundle_case(imaging=False)
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        made.case.title = "Renamed"
        made.case.save()
        DocumentFactory.create(cases=[made.case], deidentified=True)
        made.case.documents.add(DocumentFactory.create())
        enqueue.enqueue_bundle(case_id=made.case.pk)
    sends = [c for c in callbacks if isinstance(c, enqueue.BundleSend)]
    assert [send.case_id for send in sends] == [made.case.pk]


def test_the_case_page_shows_the_bundle_and_what_was_withheld(bundle_case: BundleCase) -> None:
    bundles.sync_bundle(case_id=bundle_case.case.pk)
    client = Client()
    client.force_login(SuperUserFactory.create())

    page = client.get(reverse("admin:cases_case_change", args=[bundle_case.case.pk])).content.decode()

    assert "Published:" in page and bundle_case.case.viewer_bundle.folder in page
    assert "manifest.json" in page
    assert f"document {bundle_case.documents['leaky'].pk}: Its title, summary or text contains the MRN." in page
