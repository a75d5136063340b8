"""End to end, with real parts: moto's S3 and SQS over HTTP, `ingest_listen`, a Celery worker process
on Redis, PostgreSQL. Slow (they start processes), and part of `make test`."""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

from imaging.conversion.phantom import PhantomFiles, write_phantom
from imaging.models import CaseStructure, ImagingStudy, IngestJob
from tests.ingest.conftest import zip_bytes
from tests.ingest.processes import REDIS_URL, CeleryWorker, run_listener_once, stack_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FINISHED = (IngestJob.Status.SUCCEEDED, IngestJob.Status.FAILED)


@pytest.fixture
def stack(s3_storages, ingest_queue, moto_server, tmp_path):
    """The environment of the worker and listener processes, on a Redis queue of this test's own."""
    redis.Redis.from_url(REDIS_URL).flushdb()  # db 3 belongs to these tests

    def make(**extra: str) -> dict[str, str]:
        return stack_env(
            database=connection.settings_dict,
            moto_endpoint=moto_server,
            buckets=s3_storages,
            queue_url=ingest_queue,
            celery_queue=f"hpb-e2e-{uuid.uuid4().hex[:8]}",
            tmp=tmp_path,
            **extra,
        )

    yield make
    redis.Redis.from_url(REDIS_URL).flushdb()


def _zip_series_with_seg(phantom: PhantomFiles, path: Path, *, compress: bool = True) -> Path:
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", mode) as archive:
        for file in sorted(phantom.series_dir.iterdir()):
            archive.write(file, f"ct/{file.name}")
        archive.write(phantom.segmentation_path, "seg/segmentation.dcm")  # found by its frame of reference
    return path


def _listen_until(env: dict[str, str], count: int) -> None:
    for _ in range(10):
        run_listener_once(env)
        if IngestJob.objects.count() >= count:
            return
    raise AssertionError(f"The listener created {IngestJob.objects.count()} job(s), expected {count}.")


def _asset_keys(s3_client: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []))


def _expected_asset_keys(study: ImagingStudy) -> list[str]:
    uris = [study.volume_uri, study.preview_uri, *study.structures.values_list("mesh_uri", flat=True)]
    # The volume's other levels (the half-resolution preview), listed in the study's metadata.
    prefix = study.volume_uri.split("/", 3)[3].rsplit("/", 1)[0]
    levels = [f"{prefix}/{level['file']}" for level in study.metadata["levels"] if level["name"] != "full"]
    return sorted([*(uri.split("/", 3)[3] for uri in uris), *levels])


def test_s3_event_to_listener_to_worker_to_rows_and_assets(case, phantom, stack, s3_client, s3_storages, tmp_path):
    env = stack()
    uploads = s3_storages["uploads"]
    good_key = f"uploads/{case.pk}/scanner-1/Abdomen CT+seg.zip"
    bad_key = f"uploads/{case.pk}/scanner-2/escape.zip"
    worker = CeleryWorker(env, tmp_path / "worker.log", name=f"e2e-{uuid.uuid4().hex[:6]}")
    try:
        worker.start()
        s3_client.put_object(Bucket=uploads, Key=bad_key, Body=zip_bytes({"../../escape.dcm": b"DICM"}))
        good = _zip_series_with_seg(phantom, tmp_path / "series.zip")
        s3_client.put_object(Bucket=uploads, Key=good_key, Body=good.read_bytes())

        _listen_until(env, 2)
        wait_for(lambda: IngestJob.objects.filter(status__in=FINISHED).count() == 2, 120, "both jobs", interval=0.2)

        bad, good_job = IngestJob.objects.get(source_key=bad_key), IngestJob.objects.get(source_key=good_key)
        assert worker.alive, worker.tail()  # a refused upload does not take the worker down
        assert (bad.status, bad.error_code) == (IngestJob.Status.FAILED, "archive_unsafe_path")
        assert "climbs out of its folder" in bad.error
        assert good_job.status == IngestJob.Status.SUCCEEDED, good_job.error
        assert good_job.worker.split(":")[1] == bad.worker.split(":")[1]  # the same pool child ran both

        study = ImagingStudy.objects.get(case=case)
        assert study.ingest_job == good_job
        assert len(study.metadata["dimensions"]) == 3
        assert set(CaseStructure.objects.filter(imaging_study=study).values_list("name", flat=True)) >= {
            "liver",
            "tumour",
            "portal vein",
        }
        assert _asset_keys(s3_client, s3_storages["assets"]) == _expected_asset_keys(study)
        assert _asset_keys(s3_client, uploads) == sorted([good_key, bad_key])  # uploads are kept
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def full_phantom_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 512x512x300 phantom and its SEG as an uncompressed zip: its meshes take seconds to build."""
    folder = tmp_path_factory.mktemp("full-phantom")
    phantom = write_phantom(folder / "files", size="full", seed=11)
    return _zip_series_with_seg(phantom, folder / "full.zip", compress=False)


def test_a_job_whose_worker_is_killed_completes_once_on_the_next_worker(
    case, full_phantom_zip, stack, s3_client, s3_storages, tmp_path
):
    # acks_late: the killed worker never acknowledged its task, so Redis hands it out again once the
    # visibility timeout (short here) has passed; the new run recognises its own task and takes over.
    env = stack(CELERY_BROKER_VISIBILITY_TIMEOUT="8")
    key = f"uploads/{case.pk}/scanner-9/full.zip"
    first = CeleryWorker(env, tmp_path / "first.log", name=f"first-{uuid.uuid4().hex[:6]}")
    second = CeleryWorker(env, tmp_path / "second.log", name=f"second-{uuid.uuid4().hex[:6]}")
    try:
        first.start()
        s3_client.upload_file(str(full_phantom_zip), s3_storages["uploads"], key)
        _listen_until(env, 1)
        job = IngestJob.objects.get()
        late_stages = ("meshes", "store", "record", "done")
        wait_for(
            lambda: IngestJob.objects.filter(pk=job.pk, stage__in=late_stages).exists(),
            180,
            "the run to reach the meshes stage",
        )
        first.kill()

        job.refresh_from_db()
        if job.status != IngestJob.Status.RUNNING:
            pytest.fail(f"The job ended ({job.status}) before its worker could be killed:\n{first.tail()}")
        assert job.attempts == 1
        assert not ImagingStudy.objects.exists()
        killed_run = (job.task_id, job.worker)

        second.start()
        wait_for(
            lambda: IngestJob.objects.filter(pk=job.pk, status__in=FINISHED).exists(),
            240,
            "the job to finish on the second worker",
            interval=0.2,
        )
        job.refresh_from_db()
        assert job.status == IngestJob.Status.SUCCEEDED, f"{job.error}\n{second.tail()}"
        assert job.attempts == 2
        assert job.task_id == killed_run[0]  # the same task, redelivered
        assert job.worker != killed_run[1]
        assert IngestJob.objects.count() == 1
        study = ImagingStudy.objects.get()
        assert study.metadata["dimensions"] == [512, 512, 300]
        names = list(CaseStructure.objects.values_list("name", flat=True))
        assert len(names) == len(set(names)) >= 6
        assert _asset_keys(s3_client, s3_storages["assets"]) == _expected_asset_keys(study)  # no orphans
        assert "succeeded" not in first.output()
    finally:
        first.kill()
        second.stop()
