"""The IngestJob admin: the curator's upload form, the list, the error, retry and sweep actions."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from imaging.models import CaseStructure, ImagingStudy, IngestJob
from tests.factories import IngestJobFactory
from tests.ingest.conftest import stored_keys

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:imaging_ingestjob_add")
LIST_URL = reverse("admin:imaging_ingestjob_changelist")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_a_curator_uploads_a_zip_with_a_segmentation_and_labels(
    admin_client, case, phantom, phantom_zip, superuser, django_capture_on_commit_callbacks
):
    labels = {"1": "Liver", "2": "Tumour", "3": "Portal vein", "4": "Hepatic veins", "5": "Pancreas", "6": "Bile ducts"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            ADD_URL,
            {
                "case": case.pk,
                "files": [SimpleUploadedFile(phantom_zip.name, phantom_zip.read_bytes())],
                "segmentation": SimpleUploadedFile("seg.dcm", phantom.segmentation_path.read_bytes()),
                "labels": json.dumps(labels),
            },
        )

    job = IngestJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:imaging_ingestjob_change", args=[job.pk])
    assert job.status == IngestJob.Status.SUCCEEDED, job.error
    assert (job.source, job.created_by, job.labels) == (IngestJob.Source.UPLOAD, superuser, labels)
    prefix = f"uploads/{case.pk}/{job.upload_id}/"
    assert stored_keys("uploads") == [f"{prefix}part-0001.zip", f"{prefix}segmentation.dcm"]
    assert [f["name"] for f in job.source_files] == [phantom_zip.name, "seg.dcm"]
    assert set(CaseStructure.objects.values_list("name", flat=True)) == set(labels.values())

    page = admin_client.get(response["Location"]).content.decode()
    assert "Liver" in page
    assert phantom_zip.name in page


def test_a_curator_uploads_the_dicom_files_one_by_one(admin_client, case, phantom, django_capture_on_commit_callbacks):
    files = sorted(phantom.series_dir.iterdir())
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            ADD_URL, {"case": case.pk, "files": [SimpleUploadedFile(f.name, f.read_bytes()) for f in files]}
        )

    job = IngestJob.objects.get()
    assert job.status == IngestJob.Status.SUCCEEDED, job.error
    assert len(stored_keys("uploads")) == len(files)
    assert ImagingStudy.objects.get().case == case


def test_the_upload_form_refuses_bad_labels_and_creates_nothing(admin_client, case, phantom_zip):
    response = admin_client.post(
        ADD_URL,
        {
            "case": case.pk,
            "files": [SimpleUploadedFile("a.zip", phantom_zip.read_bytes())],
            "labels": '{"liver": 1}',
        },
    )
    assert response.status_code == 200
    assert "is not a whole number" in response.content.decode()
    assert not IngestJob.objects.exists()
    assert stored_keys("uploads") == []


def test_the_add_page_offers_the_upload_fields(admin_client, case):
    page = admin_client.get(ADD_URL).content.decode()
    for field in ('name="case"', 'name="files"', "multiple", 'name="segmentation"', 'name="labels"'):
        assert field in page


def test_the_list_shows_status_stage_progress_and_error_without_a_query_per_row(admin_client):
    IngestJobFactory.create(status=IngestJob.Status.FAILED, error_code="slice_gap", error="Slice 12 is missing: " * 10)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(LIST_URL)
    IngestJobFactory.create_batch(8, status=IngestJob.Status.RUNNING, stage="meshes", progress=0.5)
    with CaptureQueriesContext(connection) as many:
        page = admin_client.get(LIST_URL).content.decode()

    assert len(many) == len(few)
    assert "Slice 12 is missing" in page
    assert "meshes" in page
    assert "50%" in page


def test_the_change_page_shows_the_error_readably(admin_client):
    job = IngestJobFactory.create(
        status=IngestJob.Status.FAILED,
        error_code="slice_gap",
        error="Series 1.2.3 has a gap between slices 11 and 13; <upload the missing slice>.",
    )
    page = admin_client.get(reverse("admin:imaging_ingestjob_change", args=[job.pk])).content.decode()
    assert "slice_gap" in page
    assert "&lt;upload the missing slice&gt;" in page  # escaped, never rendered as markup


def test_the_retry_action_runs_failed_jobs_again(
    admin_client, case, phantom, django_capture_on_commit_callbacks, settings
):
    from imaging.services.jobs import ingest_local_paths
    from imaging.services.runner import run_job

    job = ingest_local_paths(case=case, paths=[phantom.series_dir], enqueue=False)
    settings.INGEST_MAX_VOLUME_BYTES = 1000  # refused as too large...
    run_job(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == IngestJob.Status.FAILED
    running = IngestJobFactory.create(status=IngestJob.Status.RUNNING, heartbeat_at=timezone.now())
    settings.INGEST_MAX_VOLUME_BYTES = 2 * 1024**3  # ...until the administrator raises the cap

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            LIST_URL, {"action": "retry_selected", "_selected_action": [job.pk, running.pk]}, follow=True
        )
    job.refresh_from_db()
    running.refresh_from_db()

    assert job.status == IngestJob.Status.SUCCEEDED
    assert (job.error, job.error_code) == ("", "")
    assert running.status == IngestJob.Status.RUNNING
    text = response.content.decode()
    assert "1 job(s) queued again" in text
    assert "1 job(s) left alone" in text


def test_the_sweep_action_requeues_the_selected_stuck_jobs(admin_client, django_capture_on_commit_callbacks):
    stuck = IngestJobFactory.create(
        status=IngestJob.Status.RUNNING, attempts=1, heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            LIST_URL, {"action": "sweep_selected", "_selected_action": [stuck.pk]}, follow=True
        )
    stuck.refresh_from_db()
    assert stuck.status == IngestJob.Status.QUEUED
    assert len(callbacks) == 1
    assert "1 stuck job(s) requeued" in response.content.decode()


def test_the_list_shows_and_filters_by_the_real_states(admin_client, case):
    waiting = IngestJob.objects.create(case=case, status=IngestJob.Status.AWAITING_UPLOAD, source_key="a")
    retrying = IngestJob.objects.create(case=case, status=IngestJob.Status.RETRYING, source_key="b", stage="store")
    IngestJob.objects.create(case=case, status=IngestJob.Status.QUEUED, source_key="c")

    page = admin_client.get(LIST_URL).content.decode()
    for label in ("Awaiting upload", "Queued", "Running", "Retrying", "Succeeded", "Failed"):
        assert f">{label}</a>" in page  # one filter choice per state
    only_retrying = admin_client.get(LIST_URL, {"status__exact": "retrying"})
    only_waiting = admin_client.get(LIST_URL, {"status__exact": "awaiting_upload"})

    assert [job.pk for job in only_retrying.context["cl"].result_list] == [retrying.pk]
    assert [job.pk for job in only_waiting.context["cl"].result_list] == [waiting.pk]
    assert "Retrying" in only_retrying.content.decode()
