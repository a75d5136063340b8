"""Claiming, taking over, retrying, time limits and the sweep: who runs a job, and how often."""

from __future__ import annotations

import datetime as dt
import signal
import socket

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.management import call_command
from django.utils import timezone

from cases.models import Case
from config.celery import app as celery_app
from hpb import storage
from hpb.settings_helpers import build_storages
from imaging.conversion.phantom import PhantomFiles
from imaging.models import ImagingStudy, IngestJob
from imaging.services import keys, lifecycle, runner
from imaging.services.jobs import begin_upload, ingest_local_paths
from imaging.services.runner import run_job
from imaging.services.sweep import sweep_stuck_jobs
from imaging.tasks import run_ingest_job
from tests.ingest.conftest import stored_keys

pytestmark = pytest.mark.django_db

HOUR_AGO = dt.timedelta(hours=1)


@pytest.fixture
def queued_job(case: Case, phantom: PhantomFiles) -> IngestJob:
    return ingest_local_paths(case=case, paths=[phantom.series_dir], enqueue=False)


def _as_running(job: IngestJob, *, task_id: str, heartbeat_age: dt.timedelta, attempts: int = 1) -> None:
    IngestJob.objects.filter(pk=job.pk).update(
        status=IngestJob.Status.RUNNING,
        attempts=attempts,
        task_id=task_id,
        heartbeat_at=timezone.now() - heartbeat_age,
        stage="meshes",
    )


def test_a_finished_job_is_not_run_again(queued_job):
    run_job(job_id=queued_job.pk)
    outcome = run_job(job_id=queued_job.pk, task_id="a-late-duplicate")
    queued_job.refresh_from_db()

    assert (outcome.ran, outcome.reason) == (False, "already finished")
    assert (queued_job.status, queued_job.attempts) == (IngestJob.Status.SUCCEEDED, 1)
    assert ImagingStudy.objects.count() == 1


def test_a_job_that_a_live_worker_runs_is_left_alone(queued_job):
    _as_running(queued_job, task_id="task-of-the-live-worker", heartbeat_age=dt.timedelta(seconds=5))

    outcome = run_job(job_id=queued_job.pk, task_id="a-duplicate-task")
    queued_job.refresh_from_db()

    assert (outcome.ran, outcome.reason) == (False, "running elsewhere")
    assert (queued_job.status, queued_job.attempts) == (IngestJob.Status.RUNNING, 1)


def test_a_redelivered_task_takes_over_the_run_its_dead_worker_left(queued_job):
    _as_running(queued_job, task_id="task-1", heartbeat_age=dt.timedelta(seconds=5))

    outcome = run_job(job_id=queued_job.pk, task_id="task-1")
    queued_job.refresh_from_db()

    assert outcome.ran
    assert (queued_job.status, queued_job.attempts) == (IngestJob.Status.SUCCEEDED, 2)


def test_a_job_with_a_stale_heartbeat_is_taken_over(queued_job):
    _as_running(queued_job, task_id="task-1", heartbeat_age=HOUR_AGO)

    run_job(job_id=queued_job.pk, task_id="task-2")
    queued_job.refresh_from_db()

    assert (queued_job.status, queued_job.attempts, queued_job.task_id) == (IngestJob.Status.SUCCEEDED, 2, "task-2")


def test_a_run_whose_job_is_taken_over_mid_way_records_nothing(queued_job, monkeypatch):
    """The broker redelivers the task to a second worker while the first is still converting: the
    first run learns it at its next report and stops; no row, no file of it remains."""
    real_convert = runner.convert

    def convert_then_lose_the_job(**kwargs):
        result = real_convert(**kwargs)
        assert lifecycle.claim(job_id=queued_job.pk, task_id="task-1", worker="second:2").claimed
        return result

    monkeypatch.setattr(runner, "convert", convert_then_lose_the_job)
    outcome = run_job(job_id=queued_job.pk, task_id="task-1", worker="first:1")
    queued_job.refresh_from_db()

    assert (outcome.ran, outcome.reason, outcome.status) == (True, "taken over", IngestJob.Status.RUNNING)
    assert (queued_job.status, queued_job.attempts, queued_job.worker) == (IngestJob.Status.RUNNING, 2, "second:2")
    assert not ImagingStudy.objects.exists()
    assert stored_keys("assets") == []


def test_a_job_started_too_often_fails_and_its_leftovers_go(queued_job, settings):
    settings.INGEST_MAX_ATTEMPTS = 3
    leftover = keys.volume_key(case_id=queued_job.case_id, study_id=987654)
    storage.save("assets", leftover, b"half a volume from a killed run")
    IngestJob.objects.filter(pk=queued_job.pk).update(reserved_study_id=987654)
    _as_running(queued_job, task_id="task-3", heartbeat_age=dt.timedelta(seconds=5), attempts=3)

    outcome = run_job(job_id=queued_job.pk, task_id="task-3")
    queued_job.refresh_from_db()

    assert not outcome.ran
    assert queued_job.status == IngestJob.Status.FAILED
    assert queued_job.error_code == "too_many_attempts"
    assert "started 3 times" in queued_job.error
    assert stored_keys("assets") == []


def test_a_job_awaiting_its_upload_is_not_run(case):
    job = begin_upload(case=case, source=IngestJob.Source.UPLOAD)
    outcome = run_job(job_id=job.pk)
    assert (outcome.ran, outcome.reason) == (False, "upload not complete")


def test_a_task_for_a_deleted_job_does_nothing(queued_job):
    job_id = queued_job.pk
    queued_job.delete()
    assert run_ingest_job.apply(args=(job_id,)).get() == "missing"


def test_jobs_are_enqueued_only_when_their_transaction_commits(case, phantom, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = ingest_local_paths(case=case, paths=[phantom.series_dir])
    job.refresh_from_db()
    assert len(callbacks) == 1
    assert (job.status, job.attempts) == (IngestJob.Status.QUEUED, 0)  # not run before the commit


# --- transient errors and time limits -----------------------------------------------------------------


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_transient_storage_errors_are_retried_with_backoff_then_fail_the_job(queued_job, settings, monkeypatch):
    settings.INGEST_MAX_ATTEMPTS = 3
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries would only slow the test
    # The uploads bucket's endpoint stops answering: every call is a real EndpointConnectionError.
    dead = build_storages(
        buckets={"uploads": "uploads-bucket"},
        root=settings.STORAGE_ROOT,
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{_unused_port()}",
        expiry_seconds=900,
    )
    settings.STORAGES = {**settings.STORAGES, "uploads": dead["uploads"]}

    result = run_ingest_job.apply(args=(queued_job.pk,))
    queued_job.refresh_from_db()

    assert result.get() == IngestJob.Status.FAILED
    assert queued_job.status == IngestJob.Status.FAILED
    assert queued_job.error_code == "transient_exhausted"
    assert "EndpointConnectionError" in queued_job.error
    assert queued_job.attempts == 3


def test_the_backoff_grows_and_is_capped():
    from celery.utils.time import get_exponential_backoff_interval

    from imaging.tasks import RETRY_BACKOFF_FACTOR_SECONDS

    caps = [
        max(get_exponential_backoff_interval(RETRY_BACKOFF_FACTOR_SECONDS, n, 600, full_jitter=True) for _ in range(50))
        for n in range(8)
    ]
    assert caps[0] <= 5
    assert caps[3] > caps[0]
    assert max(caps) <= 600


def test_the_soft_time_limit_ends_the_job_as_failed_with_a_clear_message(case, large_series, settings):
    """Celery's pool raises SoftTimeLimitExceeded in the running task from a signal handler; so does this
    test, once the run is downloading its upload (re-armed every 10 ms until it is). Not in the middle
    of a database call: inside this test's own transaction that would mark it broken, which a worker
    (in autocommit) never sees."""
    settings.CELERY_TASK_SOFT_TIME_LIMIT = 42
    job = ingest_local_paths(case=case, paths=[large_series], enqueue=False)

    def soft_limit(_signum, frame):
        names, files = set(), set()
        while frame is not None:
            names.add(frame.f_code.co_name)
            files.add(frame.f_code.co_filename)
            frame = frame.f_back
        if "_download_source" in names and not any("/django/db/" in f for f in files):
            raise SoftTimeLimitExceeded
        signal.setitimer(signal.ITIMER_REAL, 0.01)

    previous = signal.signal(signal.SIGALRM, soft_limit)
    signal.setitimer(signal.ITIMER_REAL, 0.01)
    try:
        run_job(job_id=job.pk)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    job.refresh_from_db()

    assert job.status == IngestJob.Status.FAILED
    assert job.error_code == "time_limit"
    assert "time limit of 42 seconds" in job.error
    assert "stage 'download'" in job.error
    assert "CONVERSION_TIME_LIMIT_SECONDS" in job.error
    assert not ImagingStudy.objects.exists()
    assert stored_keys("assets") == []


# --- the sweep ---------------------------------------------------------------------------------------------


def test_the_sweep_requeues_a_job_whose_worker_went_silent(queued_job, django_capture_on_commit_callbacks):
    _as_running(queued_job, task_id="task-of-a-dead-worker", heartbeat_age=HOUR_AGO)

    with django_capture_on_commit_callbacks(execute=True):
        report = sweep_stuck_jobs()
    queued_job.refresh_from_db()

    assert report.requeued == [queued_job.pk]
    assert (queued_job.status, queued_job.attempts) == (IngestJob.Status.SUCCEEDED, 2)


def test_the_sweep_fails_a_job_that_keeps_dying(queued_job, settings):
    settings.INGEST_MAX_ATTEMPTS = 2
    _as_running(queued_job, task_id="t", heartbeat_age=HOUR_AGO, attempts=2)

    report = sweep_stuck_jobs()
    queued_job.refresh_from_db()

    assert report.failed == [queued_job.pk]
    assert queued_job.status == IngestJob.Status.FAILED
    assert queued_job.error_code == "stuck"
    assert "stopped responding" in queued_job.error


def test_the_sweep_leaves_live_and_finished_jobs_alone(queued_job, case, django_capture_on_commit_callbacks):
    _as_running(queued_job, task_id="t", heartbeat_age=dt.timedelta(seconds=10))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = sweep_stuck_jobs()
    assert report.as_dict() == {"requeued": 0, "failed": 0, "reenqueued": 0, "abandoned": 0}
    assert callbacks == []


def test_the_sweep_enqueues_a_queued_job_whose_task_was_lost(queued_job, django_capture_on_commit_callbacks):
    IngestJob.objects.filter(pk=queued_job.pk).update(updated_at=timezone.now() - dt.timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = sweep_stuck_jobs()
    assert report.reenqueued == [queued_job.pk]
    assert len(callbacks) == 1


def test_the_sweep_fails_an_upload_that_was_never_completed(case):
    job = begin_upload(case=case, source=IngestJob.Source.UPLOAD)
    IngestJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(days=2))

    report = sweep_stuck_jobs()
    job.refresh_from_db()

    assert report.abandoned == [job.pk]
    assert (job.status, job.error_code) == (IngestJob.Status.FAILED, "upload_abandoned")


def test_the_sweep_runs_from_the_command_line_and_from_celery_beat(queued_job, capsys, settings):
    _as_running(queued_job, task_id="t", heartbeat_age=HOUR_AGO, attempts=settings.INGEST_MAX_ATTEMPTS)
    call_command("ingest_sweep")
    assert "1 failed after too many attempts" in capsys.readouterr().out
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "imaging.tasks.sweep_stuck_ingest_jobs" in scheduled
    assert "imaging.tasks.sweep_stuck_ingest_jobs" in celery_app.tasks


def test_the_listener_sweeps_where_production_runs_no_beat(queued_job, ingest_queue, capsys, settings):
    """Terraform deploys web, worker and listener only: the listener's loop runs the sweep."""
    _as_running(queued_job, task_id="t", heartbeat_age=HOUR_AGO, attempts=settings.INGEST_MAX_ATTEMPTS)

    call_command("ingest_listen", "--once", "--wait-seconds", "0", "--sweep-interval", "0")
    queued_job.refresh_from_db()
    assert queued_job.status == IngestJob.Status.RUNNING  # --sweep-interval 0: never
    assert "0 sweep(s)" in capsys.readouterr().out

    call_command("ingest_listen", "--once", "--wait-seconds", "0", "--sweep-interval", "300")
    queued_job.refresh_from_db()
    assert queued_job.status == IngestJob.Status.FAILED
    assert "1 sweep(s)" in capsys.readouterr().out
