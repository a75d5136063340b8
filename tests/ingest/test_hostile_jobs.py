"""The hostile-input corpus as real jobs: each a failed job with its code, nothing partial, the worker alive.

A representative subset of ``tests/imaging/hostile.py`` (every kind: declared sizes that lie, archive
tricks, DICOM and segmentation refusals) goes through the ingest service as a worker runs it (real
PostgreSQL, storages, the run service), and three of them through a real Celery worker process fed by
the S3 event listener. Times are printed, never asserted.
"""

from __future__ import annotations

import time
import uuid
import zipfile
from pathlib import Path

import pytest
import redis
from django.db import connection

from imaging.models import CaseStructure, ImagingStudy, IngestJob
from imaging.services.jobs import ingest_local_paths
from imaging.tasks import run_ingest_job
from tests.imaging.hostile import BY_NAME
from tests.ingest.conftest import stored_keys
from tests.ingest.processes import REDIS_URL, CeleryWorker, run_listener_once, stack_env, wait_for

SUBSET = [
    "frames_lie_classic",
    "frames_lie_enhanced",
    "rows_columns_lie",
    "compressed_frames_lie",
    "item_bomb",
    "bits_allocated_7",
    "seg_frames_lie",
    "seg_number_out_of_range",
    "nifti_shape_lie",
    "zip_traversal",
    "zip_symlink",
    "zip_nul_name",
    "zip_duplicate_unicode",
    "zip_encrypted",
    "zip_unsupported_method",
    "zip_nested",
    "garbage_sop_class",
    "missing_position",
    "duplicate_position",
    "corrupt_pixel_data",
    "segmentation_of_another_scan",
]
# Limits a case narrows, as the settings the runner reads them from.
SETTINGS = {
    "max_volume_bytes": "INGEST_MAX_VOLUME_BYTES",
    "max_archive_bytes": "INGEST_MAX_ARCHIVE_BYTES",
    "max_archive_files": "INGEST_MAX_ARCHIVE_FILES",
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", SUBSET)
def test_a_hostile_upload_fails_its_job_with_the_code(name, case, tmp_path, settings, phantom):
    hostile = BY_NAME[name]
    (tmp_path / "upload").mkdir()
    upload = hostile.build(tmp_path / "upload")
    for limit, value in upload.limits.items():
        setattr(settings, SETTINGS[limit], value)
    job = ingest_local_paths(case=case, paths=upload.inputs, segmentation=upload.segmentation, enqueue=False)
    uploads_before = stored_keys("uploads")

    started = time.perf_counter()
    run_ingest_job.apply(args=(job.pk,))  # the task as a worker runs it
    print(f"{name}: {time.perf_counter() - started:.3f} s")
    job.refresh_from_db()

    assert (job.status, job.error_code) == (IngestJob.Status.FAILED, hostile.code), job.error
    assert job.attempts == 1  # a refused input is never retried
    assert len(job.error) > 30 and job.error.isprintable()
    assert not ImagingStudy.objects.exists() and not CaseStructure.objects.exists()
    assert stored_keys("assets") == []  # nothing partial
    assert stored_keys("uploads") == uploads_before  # the upload is kept as it came

    # The same worker process takes the next job and converts it.
    good = ingest_local_paths(case=case, paths=[phantom.series_dir], enqueue=False)
    run_ingest_job.apply(args=(good.pk,))
    good.refresh_from_db()
    assert good.status == IngestJob.Status.SUCCEEDED, good.error


def _zip_folder(folder: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(file, str(file.relative_to(folder)))
    return path


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_hostile_uploads_through_a_real_worker_leave_it_alive(
    case, phantom_zip, s3_storages, s3_client, ingest_queue, moto_server, tmp_path
):
    redis.Redis.from_url(REDIS_URL).flushdb()  # db 3 belongs to the process tests
    env = stack_env(
        database=connection.settings_dict,
        moto_endpoint=moto_server,
        buckets=s3_storages,
        queue_url=ingest_queue,
        celery_queue=f"hpb-hostile-{uuid.uuid4().hex[:8]}",
        tmp=tmp_path,
    )
    uploads = s3_storages["uploads"]
    codes: dict[str, str] = {}
    for name in ("frames_lie_classic", "item_bomb", "compressed_frames_lie"):
        (tmp_path / name).mkdir()
        built = BY_NAME[name].build(tmp_path / name)
        key = f"uploads/{case.pk}/hostile/{name}.zip"
        body = _zip_folder(built.inputs[0], tmp_path / f"{name}.zip").read_bytes()
        s3_client.put_object(Bucket=uploads, Key=key, Body=body)
        codes[key] = BY_NAME[name].code
    good_key = f"uploads/{case.pk}/scanner/good.zip"
    worker = CeleryWorker(env, tmp_path / "worker.log", name=f"hostile-{uuid.uuid4().hex[:6]}")
    try:
        worker.start()
        _listen_until(env, len(codes))
        _wait_finished(len(codes))
        s3_client.put_object(Bucket=uploads, Key=good_key, Body=phantom_zip.read_bytes())
        _listen_until(env, len(codes) + 1)
        _wait_finished(len(codes) + 1)
        assert worker.alive, worker.tail()  # hostile uploads do not take the worker down
        for key, code in codes.items():
            job = IngestJob.objects.get(source_key=key)
            assert (job.status, job.error_code) == (IngestJob.Status.FAILED, code), job.error
            print(f"{key.rsplit('/', 1)[1]}: {job.error_code}, stages {job.stage_seconds}")
        assert IngestJob.objects.get(source_key=good_key).status == IngestJob.Status.SUCCEEDED
        assert ImagingStudy.objects.count() == 1
    finally:
        worker.stop()
        redis.Redis.from_url(REDIS_URL).flushdb()


def _wait_finished(count: int) -> None:
    finished = (IngestJob.Status.SUCCEEDED, IngestJob.Status.FAILED)
    wait_for(lambda: IngestJob.objects.filter(status__in=finished).count() == count, 120, f"{count} jobs", interval=0.2)


def _listen_until(env: dict[str, str], count: int) -> None:
    for _ in range(10):
        run_listener_once(env)
        if IngestJob.objects.count() >= count:
            return
    raise AssertionError(f"The listener created {IngestJob.objects.count()} job(s), expected {count}.")


@pytest.mark.django_db
def test_an_anonymised_series_without_uids_succeeds_with_warnings_on_the_job_and_the_study(case, tmp_path):
    """Odd is not hostile: the issue's series (no Study, Series or SOP Class UID) converts, and says how."""
    from tests.imaging.wild import BY_NAME as WILD

    expect = WILD["anonymised_jpeg2000_without_uids"].build(tmp_path)
    job = ingest_local_paths(case=case, paths=[expect.folder], enqueue=False)
    run_ingest_job.apply(args=(job.pk,))
    job.refresh_from_db()

    assert job.status == IngestJob.Status.SUCCEEDED, job.error
    study = ImagingStudy.objects.get(case=case)
    assert study.series_instance_uid.startswith("2.25.")
    grouped = [w for w in job.warnings if w.startswith("20 file(s) have no SeriesInstanceUID")]
    assert grouped and grouped[0] in study.metadata["warnings"]
    assert set(study.metadata["warnings"]) <= set(job.warnings)

    # The same files again: the same generated UID, so the same study is updated, not a second one.
    again = ingest_local_paths(case=case, paths=[expect.folder], enqueue=False)
    run_ingest_job.apply(args=(again.pk,))
    again.refresh_from_db()
    assert again.status == IngestJob.Status.SUCCEEDED, again.error
    assert list(ImagingStudy.objects.filter(case=case).values_list("pk", flat=True)) == [study.pk]
