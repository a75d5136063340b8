"""`ingest_listen` against moto's S3 and SQS: real bucket notifications delivered to a real queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from imaging.models import CaseStructure, IngestJob
from imaging.services.jobs import begin_upload
from imaging.services.listener import IngestListener, PollReport

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


def listen(capsys: pytest.CaptureFixture[str] | None = None) -> str:
    call_command("ingest_listen", "--once", "--wait-seconds", "1")
    return capsys.readouterr().out if capsys else ""


def drain(queue_url: str) -> PollReport:
    """Poll until the queue has nothing left to give; the listener's reports, summed."""
    listener = IngestListener(queue_url=queue_url, wait_seconds=1)
    total = listener.poll_once()
    while True:
        report = listener.poll_once()
        if not report.received:
            return total
        total.ignored += report.ignored
        total.jobs_created += report.jobs_created
        total.duplicates += report.duplicates


def queue_depth(sqs_client: Any, url: str) -> int:
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_zip_dropped_in_the_bucket_becomes_one_job(
    case, phantom_zip, ingest_queue, s3_client, s3_storages, sqs_client, capsys, django_capture_on_commit_callbacks
):
    key = f"uploads/{case.pk}/gateway-0001/{phantom_zip.name}"  # spaces and '+': URL-encoded in the event
    etag = s3_client.put_object(Bucket=s3_storages["uploads"], Key=key, Body=phantom_zip.read_bytes())["ETag"]

    with django_capture_on_commit_callbacks(execute=True):
        out = listen(capsys)

    job = IngestJob.objects.get()
    assert (job.source, job.source_bucket, job.source_key) == (IngestJob.Source.S3_EVENT, s3_storages["uploads"], key)
    assert job.source_etag == etag.strip('"')
    assert job.upload_id == "gateway-0001"
    assert job.status == IngestJob.Status.SUCCEEDED, job.error
    assert CaseStructure.objects.count() == 0  # a CT without segmentation
    assert "1 job(s) created" in out
    assert "1 test event(s)" in out  # the notification configuration's s3:TestEvent came first
    assert queue_depth(sqs_client, ingest_queue) == 0


def test_duplicate_deliveries_create_one_job(case, ingest_queue, s3_client, s3_storages, sqs_client):
    s3_client.put_object(Bucket=s3_storages["uploads"], Key=f"uploads/{case.pk}/u1/series.zip", Body=b"PK")
    bodies: list[str] = []
    while len(bodies) < 2:  # the test event, then the object's
        for message in sqs_client.receive_message(QueueUrl=ingest_queue, WaitTimeSeconds=1).get("Messages", []):
            bodies.append(message["Body"])
            sqs_client.delete_message(QueueUrl=ingest_queue, ReceiptHandle=message["ReceiptHandle"])
    event = next(b for b in bodies if "Records" in b)
    for _ in range(3):  # at-least-once delivery: the same event, again and again
        sqs_client.send_message(QueueUrl=ingest_queue, MessageBody=event)

    report = IngestListener(queue_url=ingest_queue, wait_seconds=1).run(stop=_never(), once=True)

    assert len(report.jobs_created) == 1
    assert report.duplicates == 2
    assert IngestJob.objects.count() == 1
    assert queue_depth(sqs_client, ingest_queue) == 0


def test_a_multi_file_upload_starts_with_its_complete_json(
    case, phantom, ingest_queue, s3_client, s3_storages, django_capture_on_commit_callbacks
):
    bucket, prefix = s3_storages["uploads"], f"uploads/{case.pk}/scan-77/"
    for file in sorted(phantom.series_dir.iterdir()):
        s3_client.put_object(Bucket=bucket, Key=f"{prefix}ct/{file.name}", Body=file.read_bytes())
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}seg.dcm", Body=phantom.segmentation_path.read_bytes())
    assert drain(ingest_queue).ignored == len(list(phantom.series_dir.iterdir())) + 1
    assert not IngestJob.objects.exists()  # single files wait for the manifest

    manifest = {"segmentation": "seg.dcm", "labels": {"1": "Liver", "3": "Portal vein"}}
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}complete.json", Body=json.dumps(manifest).encode())
    with django_capture_on_commit_callbacks(execute=True):
        assert len(drain(ingest_queue).jobs_created) == 1

    job = IngestJob.objects.get()
    assert (job.source_key, job.segmentation_key) == (prefix, f"{prefix}seg.dcm")
    assert job.status == IngestJob.Status.SUCCEEDED, job.error
    assert {"Liver", "Portal vein"} <= set(CaseStructure.objects.values_list("name", flat=True))


def test_an_unreadable_manifest_fails_its_job_with_a_message(case, ingest_queue, s3_client, s3_storages):
    s3_client.put_object(
        Bucket=s3_storages["uploads"], Key=f"uploads/{case.pk}/m1/complete.json", Body=b"{'not': json}"
    )
    listen()
    job = IngestJob.objects.get()
    assert (job.status, job.error_code) == (IngestJob.Status.FAILED, "manifest_invalid")
    assert "not valid JSON" in job.error


def test_events_nobody_asked_for_start_nothing_and_are_deleted(
    case, ingest_queue, s3_client, s3_storages, sqs_client, caplog
):
    api_job = begin_upload(case=case, source=IngestJob.Source.UPLOAD)  # an API upload owns its prefix
    bucket = s3_storages["uploads"]
    s3_client.put_object(Bucket=bucket, Key=f"{api_job.source_key}part-0001.zip", Body=b"PK")
    s3_client.put_object(Bucket=bucket, Key="uploads/999999/u9/Doe_John.zip", Body=b"PK")  # no such case
    s3_client.put_object(Bucket=bucket, Key="elsewhere/file.zip", Body=b"PK")
    sqs_client.send_message(QueueUrl=ingest_queue, MessageBody="not json at all")
    other_bucket = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "someone-else"}, "object": {"key": "uploads/1/u/a.zip"}},
            }
        ]
    }
    sqs_client.send_message(QueueUrl=ingest_queue, MessageBody=json.dumps(other_bucket))

    with caplog.at_level("WARNING"):
        report = IngestListener(queue_url=ingest_queue, wait_seconds=1).run(stop=_never(), once=True)

    assert report.jobs_created == []
    assert list(IngestJob.objects.values_list("pk", flat=True)) == [api_job.pk]
    assert queue_depth(sqs_client, ingest_queue) == 0
    assert "unknown case id 999999" in caplog.text
    assert "Doe" not in caplog.text  # the key may name a patient: it is never logged


def test_a_message_that_cannot_be_handled_yet_is_kept_for_redelivery(
    case, ingest_queue, s3_client, s3_storages, sqs_client
):
    key = f"uploads/{case.pk}/m2/complete.json"
    s3_client.put_object(Bucket=s3_storages["uploads"], Key=key, Body=b"{}")
    s3_client.delete_object(Bucket=s3_storages["uploads"], Key=key)  # gone before the listener reads it

    report = IngestListener(queue_url=ingest_queue, wait_seconds=1).run(stop=_never(), once=True)

    assert report.kept == 1
    assert not IngestJob.objects.exists()
    assert queue_depth(sqs_client, ingest_queue) == 1  # invisible for now, delivered again later


def test_the_listener_stops_gracefully_on_sigterm(ingest_queue, moto_server, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "INGEST_QUEUE_URL": ingest_queue,
        "SQS_ENDPOINT_URL": moto_server,
        "INGEST_LISTEN_WAIT_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "ingest_listen"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)  # let it start polling
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Received" in out


def test_ingest_listen_needs_a_queue(settings):
    from django.core.management.base import CommandError

    settings.INGEST_QUEUE_URL = ""
    with pytest.raises(CommandError, match="INGEST_QUEUE_URL"):
        call_command("ingest_listen", "--once")


def _never():
    import threading

    return threading.Event()


def test_keys_that_climb_out_of_their_prefix_cannot_write_outside_the_workers_temp_folder(
    case, phantom, ingest_queue, s3_client, s3_storages, django_capture_on_commit_callbacks
):
    bucket, prefix = s3_storages["uploads"], f"uploads/{case.pk}/scan-88/"
    for file in sorted(phantom.series_dir.iterdir()):
        s3_client.put_object(Bucket=bucket, Key=f"{prefix}{file.name}", Body=file.read_bytes())
    escape = f"escape-{uuid.uuid4().hex}.txt"
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}{'../' * 12}{escape}", Body=b"not here")  # S3 allows it
    s3_client.put_object(Bucket=bucket, Key=f"{prefix}complete.json", Body=b"{}")

    with django_capture_on_commit_callbacks(execute=True):
        drain(ingest_queue)

    job = IngestJob.objects.get()
    assert job.status == IngestJob.Status.SUCCEEDED, job.error
    assert not Path("/", escape).exists()
    assert not Path(tempfile.gettempdir(), escape).exists()
