"""The run service on real DICOM: outputs, keys, rows, idempotency and clean-up on failure."""

from __future__ import annotations

import errno
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.core.files.storage import FileSystemStorage, storages

from cases.models import Case
from imaging.models import CaseStructure, ImagingStudy, IngestJob
from imaging.services import lifecycle
from imaging.services.jobs import ingest_local_paths
from imaging.services.runner import run_job
from tests.factories import CaseFactory
from tests.ingest.conftest import pydicom_test_file, stored_keys

pytestmark = pytest.mark.django_db

PHANTOM_STRUCTURES = {"liver", "tumour", "portal vein", "hepatic veins", "pancreas", "bile ducts"}


def ingest(case: Case, paths: list[Path], **kwargs: Any) -> IngestJob:
    job = ingest_local_paths(case=case, paths=paths, enqueue=False, **kwargs)
    run_job(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_a_series_and_its_seg_become_a_study_with_one_mesh_per_structure(case, phantom):
    job = ingest(case, [phantom.series_dir], segmentation=phantom.segmentation_path)

    assert job.status == IngestJob.Status.SUCCEEDED, job.error
    assert (job.stage, job.progress, job.attempts) == ("done", 1.0, 1)
    assert re.fullmatch(r"[0-9a-f]{64}", job.checksum)
    assert {"download", "read", "meshes", "store", "record"} <= set(job.stage_seconds)
    study = ImagingStudy.objects.get(case=case)
    assert study.ingest_job == job
    assert study.series_instance_uid == phantom.series_instance_uid
    assert study.volume_uri == f"storage://assets/cases/{case.pk}/studies/{study.pk}/volume.vti"
    assert study.preview_uri == f"storage://assets/cases/{case.pk}/studies/{study.pk}/preview.png"
    assert study.metadata["dimensions"] == [96, 96, 48]
    assert study.label == "CT 96x96x48"
    structures = {s.name: s for s in CaseStructure.objects.filter(imaging_study=study)}
    assert set(structures) == PHANTOM_STRUCTURES
    portal = structures["portal vein"]
    assert portal.case_id == case.pk
    assert portal.mesh_uri == f"storage://assets/cases/{case.pk}/studies/{study.pk}/structures/portal-vein.vtp"
    assert portal.metadata["label"] == 3
    assert portal.metadata["volume_ml"] > 0
    prefix = f"cases/{case.pk}/studies/{study.pk}/"
    assert stored_keys("assets") == sorted(
        [f"{prefix}volume.vti", f"{prefix}volume-preview.vti", f"{prefix}preview.png"]
        + [f"{prefix}structures/{s.mesh_uri.rsplit('/', 1)[1]}" for s in structures.values()]
    )


def test_no_patient_identifier_reaches_keys_or_asset_metadata(phantom, tmp_path):
    case = CaseFactory.create(patient__mrn="MRN-4471", patient__first_name="Ada", patient__last_name="Lovelace")
    named = tmp_path / "Lovelace_Ada_MRN-4471"
    shutil.copytree(phantom.series_dir, named)
    job = ingest(case, [named], segmentation=phantom.segmentation_path)

    assert job.status == IngestJob.Status.SUCCEEDED, job.error
    everything = json.dumps(
        {
            "keys": stored_keys("assets") + stored_keys("uploads"),
            "study": list(ImagingStudy.objects.values("metadata", "volume_uri", "label")),
            "structures": list(CaseStructure.objects.values("metadata", "mesh_uri")),
        }
    )
    for identifier in ("MRN-4471", "Lovelace", "Ada", "PHANTOM", "HPB^"):
        assert identifier not in everything


def test_a_nifti_label_map_is_named_by_the_labels(case, phantom_nifti):
    labels = {"1": "Liver", "2": "Tumour", "3": "Portal vein", "4": "Hepatic veins", "5": "Pancreas", "6": "CBD"}
    job = ingest(case, [phantom_nifti.series_dir], segmentation=phantom_nifti.segmentation_path, labels=labels)

    assert job.status == IngestJob.Status.SUCCEEDED, job.error
    assert set(CaseStructure.objects.values_list("name", flat=True)) == set(labels.values())
    assert CaseStructure.objects.get(name="CBD").mesh_uri.endswith("/structures/cbd.vtp")


def test_running_a_job_twice_replaces_its_outputs(case, phantom, django_capture_on_commit_callbacks):
    job = ingest(case, [phantom.series_dir], segmentation=phantom.segmentation_path)
    rows = sorted(CaseStructure.objects.values_list("pk", "name", "mesh_uri"))
    study = ImagingStudy.objects.get()
    keys_before = stored_keys("assets")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert lifecycle.retry(job_id=job.pk)  # without a broker the task runs in process on commit
    job.refresh_from_db()

    assert len(callbacks) == 1

    assert job.status == IngestJob.Status.SUCCEEDED
    assert job.attempts == 1  # a curator's retry starts a fresh budget
    assert list(ImagingStudy.objects.values_list("pk", flat=True)) == [study.pk]
    assert sorted(CaseStructure.objects.values_list("pk", "name", "mesh_uri")) == rows
    assert stored_keys("assets") == keys_before


def test_a_second_upload_of_the_same_series_updates_the_same_study(case, phantom, phantom_zip):
    first = ingest(case, [phantom.series_dir], segmentation=phantom.segmentation_path)
    study = ImagingStudy.objects.get()
    second = ingest(case, [phantom_zip], segmentation=phantom.segmentation_path)

    assert second.status == IngestJob.Status.SUCCEEDED, second.error
    assert first.pk != second.pk
    assert list(ImagingStudy.objects.values_list("pk", "ingest_job_id")) == [(study.pk, second.pk)]
    assert CaseStructure.objects.count() == len(PHANTOM_STRUCTURES)


def test_structures_that_disappear_lose_their_rows_and_meshes(case, phantom):
    ingest(case, [phantom.series_dir], segmentation=phantom.segmentation_path)
    study = ImagingStudy.objects.get()
    volume_key = study.volume_uri.removeprefix("storage://assets/")

    again = ingest(case, [phantom.series_dir])  # the same series, now without a segmentation

    assert again.status == IngestJob.Status.SUCCEEDED, again.error
    assert list(ImagingStudy.objects.values_list("pk", flat=True)) == [study.pk]
    assert not CaseStructure.objects.exists()
    prefix = f"cases/{case.pk}/studies/{study.pk}/"
    assert stored_keys("assets") == [f"{prefix}preview.png", f"{prefix}volume-preview.vti", volume_key]


def test_the_same_series_in_two_cases_gives_two_studies(phantom):
    first, second = CaseFactory.create(), CaseFactory.create()
    ingest(first, [phantom.series_dir])
    ingest(second, [phantom.series_dir])
    assert sorted(ImagingStudy.objects.values_list("case_id", flat=True)) == sorted([first.pk, second.pk])


# --- failures ----------------------------------------------------------------------------------------


def test_real_dicom_that_cannot_make_a_volume_fails_with_the_librarys_message(case):
    ct_small = pydicom_test_file("CT_small.dcm")  # pydicom's real CT: a single slice
    job = ingest(case, [ct_small])

    assert job.status == IngestJob.Status.FAILED
    assert job.error_code == "too_few_slices"
    assert "slice" in job.error
    assert job.finished_at is not None
    assert not ImagingStudy.objects.exists()
    assert stored_keys("assets") == []
    assert stored_keys("uploads") == [f"{job.source_key}part-0001.dcm"]  # the upload is kept


class MeshesFillTheDisk(FileSystemStorage):
    """A filesystem whose disk is full by the time the meshes are written (after the volume)."""

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        if name and ".vtp" in name:  # hpb.storage writes "<key>.partial-<id>" and renames it
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().save(name, content, max_length=max_length)


def test_a_failure_after_some_assets_were_stored_leaves_no_rows_and_no_assets(case, phantom, settings):
    settings.STORAGES = {**settings.STORAGES, "assets": {**settings.STORAGES["assets"]}}
    settings.STORAGES["assets"]["BACKEND"] = "tests.ingest.test_run_service.MeshesFillTheDisk"

    job = ingest(case, [phantom.series_dir], segmentation=phantom.segmentation_path)

    assert job.status == IngestJob.Status.FAILED
    assert job.error_code == "internal_error"
    assert job.stage == "store"
    assert "OSError" in job.error
    assert f"job {job.pk}" in job.error
    assert not ImagingStudy.objects.exists()
    assert not CaseStructure.objects.exists()
    assert stored_keys("assets") == []  # the volume and preview stored before the meshes are gone
    assert len(stored_keys("uploads")) == len(list(phantom.series_dir.iterdir())) + 1


def test_a_failed_rerun_keeps_the_previous_outputs_intact(
    case, phantom, settings, s3_storages, django_capture_on_commit_callbacks
):
    # On S3 an object is replaced atomically, so the previous outputs stay whole. (A filesystem
    # storage replaces a file by deleting it first: a full disk there can cost the old file.)
    job = ingest(case, [phantom.series_dir], segmentation=phantom.segmentation_path)
    rows = sorted(CaseStructure.objects.values_list("pk", "mesh_uri"))
    keys_before = stored_keys("assets")
    refuse_mesh_uploads(storages["assets"])

    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.retry(job_id=job.pk)
    job.refresh_from_db()

    assert job.status == IngestJob.Status.FAILED
    assert job.error_code == "internal_error"
    assert sorted(CaseStructure.objects.values_list("pk", "mesh_uri")) == rows
    assert stored_keys("assets") == keys_before


def test_a_missing_upload_fails_the_job_with_a_message(case, phantom, settings):
    job = ingest_local_paths(case=case, paths=[phantom.series_dir], enqueue=False)
    shutil.rmtree(Path(settings.STORAGES["uploads"]["OPTIONS"]["location"]) / job.source_key)

    run_job(job_id=job.pk)
    job.refresh_from_db()

    assert job.status == IngestJob.Status.FAILED
    assert job.error_code == "upload_missing"
    assert "Upload the series again" in job.error


def refuse_mesh_uploads(s3_storage: Any) -> None:
    """Make S3 refuse the meshes (say, a bucket policy) through botocore's own event hooks."""

    def refuse(params: dict[str, Any], **_kwargs: Any) -> None:
        if params.get("Key", "").endswith(".vtp"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")

    s3_storage.connection.meta.client.meta.events.register("before-parameter-build.s3.PutObject", refuse)
