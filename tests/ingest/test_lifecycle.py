"""The lifecycle's transitions one by one: each happens exactly when its precondition holds.

Rows are put in a state directly (as a worker, the sweep or a curator would have left them), then one
transition is asked for; the row says whether it happened. The concurrent cases are at the end, on
PostgreSQL with one connection per thread.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from cases.models import Case
from imaging.models import IngestJob
from imaging.services import lifecycle
from imaging.services.lifecycle import RetryDecision, SweepAction

pytestmark = pytest.mark.django_db

Status = IngestJob.Status
ALL_STATES = [s.value for s in Status]
HOUR_AGO = dt.timedelta(hours=1)


def make_job(case: Case, *, status: str, **fields: Any) -> IngestJob:
    """A job left in `status` (written directly: the state is this test's given)."""
    return IngestJob.objects.create(case=case, source_key=f"uploads/{case.pk}/u/series.zip", status=status, **fields)


def running(
    case: Case, *, attempts: int = 1, heartbeat_age: dt.timedelta = dt.timedelta(0), **fields: Any
) -> IngestJob:
    return make_job(
        case, status=Status.RUNNING, attempts=attempts, heartbeat_at=timezone.now() - heartbeat_age, **fields
    )


def state_of(job: IngestJob) -> tuple[str, int]:
    job.refresh_from_db()
    return job.status, job.attempts


# --- submit, fail, abandon, retry: a conditional UPDATE on the status ------------------------------


@pytest.mark.parametrize("status", ALL_STATES)
def test_submit_moves_only_a_job_awaiting_its_upload(case, status, django_capture_on_commit_callbacks):
    job = make_job(case, status=status)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        moved = lifecycle.submit(job_id=job.pk)

    assert moved is (status == Status.AWAITING_UPLOAD)
    assert state_of(job)[0] == (Status.QUEUED if moved else status)
    assert len(sent) == (1 if moved else 0)  # the task goes with the state, never without it


def test_submit_without_enqueue_leaves_the_job_for_the_caller(case, django_capture_on_commit_callbacks):
    job = make_job(case, status=Status.AWAITING_UPLOAD)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert lifecycle.submit(job_id=job.pk, enqueue=False)
    assert sent == []
    assert state_of(job) == (Status.QUEUED, 0)


@pytest.mark.parametrize("status", ALL_STATES)
def test_fail_ends_any_unfinished_job_and_never_rewrites_a_finished_one(case, status):
    job = make_job(case, status=status, error_code="earlier", error="What happened first.")
    failed = lifecycle.fail(job_id=job.pk, code="upload_failed", message="Storing the files failed.")
    job.refresh_from_db()

    assert failed is (status in lifecycle.UNFINISHED)
    if failed:
        assert (job.status, job.error_code, job.error) == (Status.FAILED, "upload_failed", "Storing the files failed.")
        assert job.finished_at is not None
    else:
        assert (job.status, job.error_code) == (status, "earlier")


def test_fail_for_a_run_needs_that_run_to_own_the_job(case):
    job = running(case, attempts=2)
    assert not lifecycle.fail(job_id=job.pk, code="slice_gap", message="m", attempt=1)  # a run that lost it
    assert state_of(job) == (Status.RUNNING, 2)
    assert lifecycle.fail(job_id=job.pk, code="slice_gap", message="m", attempt=2)
    assert state_of(job) == (Status.FAILED, 2)


def test_fail_for_a_run_still_holds_after_the_sweep_requeued_it(case):
    """The sweep thought the run dead and requeued the job; the run then found the input bad: the
    verdict holds for any run, so the job fails rather than running again for the same answer."""
    job = make_job(case, status=Status.QUEUED, attempts=1)
    assert lifecycle.fail(job_id=job.pk, code="slice_gap", message="m", attempt=1)
    assert state_of(job) == (Status.FAILED, 1)


@pytest.mark.parametrize("status", ALL_STATES)
def test_abandon_fails_only_an_old_upload_that_never_completed(case, status):
    job = make_job(case, status=status)
    IngestJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    now = timezone.now()

    assert not lifecycle.abandon_upload(job_id=job.pk, created_before=now - dt.timedelta(days=3), now=now)
    abandoned = lifecycle.abandon_upload(job_id=job.pk, created_before=now - dt.timedelta(days=1), now=now)

    assert abandoned is (status == Status.AWAITING_UPLOAD)
    job.refresh_from_db()
    assert job.status == (Status.FAILED if abandoned else status)
    assert (job.error_code == "upload_abandoned") is abandoned


@pytest.mark.parametrize("status", ALL_STATES)
def test_a_curators_retry_restarts_only_finished_jobs_with_a_fresh_budget(
    case, status, django_capture_on_commit_callbacks
):
    job = make_job(case, status=status, attempts=3, error_code="slice_gap", error="A gap.")
    with django_capture_on_commit_callbacks(execute=False) as sent:
        retried = lifecycle.retry(job_id=job.pk)
    job.refresh_from_db()

    assert retried is (status in lifecycle.FINISHED)
    assert len(sent) == (1 if retried else 0)
    if retried:
        assert (job.status, job.attempts, job.error_code, job.error, job.finished_at) == (
            Status.QUEUED,
            0,
            "",
            "",
            None,
        )
    else:
        assert (job.status, job.attempts) == (status, 3)


# --- the claim: status, attempts, heartbeat and task id decide ------------------------------------


@pytest.mark.parametrize(
    ("status", "claimed", "refused"),
    [
        (Status.AWAITING_UPLOAD, False, "upload not complete"),
        (Status.QUEUED, True, ""),
        (Status.RETRYING, True, ""),
        (Status.SUCCEEDED, False, "already finished"),
        (Status.FAILED, False, "already finished"),
    ],
)
def test_the_claim_takes_a_job_waiting_for_a_worker(case, status, claimed, refused):
    job = make_job(case, status=status, attempts=1, error_code="transient", error="Retrying automatically.")
    outcome = lifecycle.claim(job_id=job.pk, task_id="task-2", worker="host:42")
    job.refresh_from_db()

    assert (outcome.claimed, outcome.refused) == (claimed, refused)
    if claimed:
        assert (job.status, job.attempts, outcome.attempt) == (Status.RUNNING, 2, 2)
        assert (job.task_id, job.worker, job.stage, job.error_code, job.error) == (
            "task-2",
            "host:42",
            "download",
            "",
            "",
        )
        assert job.heartbeat_at is not None and job.started_at is not None
    else:
        assert (job.status, job.attempts) == (status, 1)


def test_the_claim_leaves_a_live_run_alone_and_takes_over_a_dead_one(case):
    live = running(case, task_id="task-1", heartbeat_age=dt.timedelta(seconds=5))
    stale = running(case, task_id="task-1", heartbeat_age=HOUR_AGO)
    redelivered = running(case, task_id="task-1", heartbeat_age=dt.timedelta(seconds=5))

    assert lifecycle.claim(job_id=live.pk, task_id="task-9", worker="w").refused == "running elsewhere"
    assert lifecycle.claim(job_id=stale.pk, task_id="task-9", worker="w").claimed
    assert lifecycle.claim(job_id=redelivered.pk, task_id="task-1", worker="w").claimed  # its own task, again
    assert [state_of(j) for j in (live, stale, redelivered)] == [
        (Status.RUNNING, 1),
        (Status.RUNNING, 2),
        (Status.RUNNING, 2),
    ]


def test_the_claim_of_a_missing_job_says_so():
    outcome = lifecycle.claim(job_id=987654321, task_id="t", worker="w")
    assert (outcome.claimed, outcome.status, outcome.refused) == (False, "missing", "no such job")


# --- progress, heartbeat, success: fenced by (running, attempt) -----------------------------------


@pytest.mark.parametrize("status", ALL_STATES)
def test_progress_heartbeat_and_success_need_the_run_to_own_the_job(case, status):
    job = make_job(case, status=status, attempts=2)
    owned = status == Status.RUNNING

    assert lifecycle.report_progress(job_id=job.pk, attempt=2, stage="meshes", progress=0.5) is owned
    assert lifecycle.heartbeat(job_id=job.pk, attempt=2) is owned
    assert not lifecycle.report_progress(job_id=job.pk, attempt=1, stage="meshes", progress=0.5)
    assert not lifecycle.heartbeat(job_id=job.pk, attempt=1)
    assert not lifecycle.succeed(job_id=job.pk, attempt=1, checksum="c", stage_seconds={}, warnings=[])
    succeeded = lifecycle.succeed(job_id=job.pk, attempt=2, checksum="c", stage_seconds={"read": 1.5}, warnings=["w"])
    job.refresh_from_db()

    assert succeeded is owned
    if owned:
        assert (job.status, job.stage, job.progress, job.checksum) == (Status.SUCCEEDED, "done", 1.0, "c")
        assert (job.stage_seconds, job.warnings) == ({"read": 1.5}, ["w"])
    else:
        assert (job.status, job.stage, job.checksum) == (status, "", "")


def test_a_late_success_from_a_run_that_lost_the_job_changes_nothing(case):
    job = make_job(case, status=Status.QUEUED)
    first = lifecycle.claim(job_id=job.pk, task_id="task-1", worker="a:1")
    second = lifecycle.claim(job_id=job.pk, task_id="task-1", worker="b:2")  # the task, redelivered
    assert (first.attempt, second.attempt) == (1, 2)

    assert not lifecycle.hold_run(job_id=job.pk, attempt=first.attempt)
    assert not lifecycle.succeed(job_id=job.pk, attempt=first.attempt, checksum="old", stage_seconds={}, warnings=[])
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker, job.checksum) == (Status.RUNNING, 2, "b:2", "")

    assert lifecycle.succeed(job_id=job.pk, attempt=second.attempt, checksum="new", stage_seconds={}, warnings=[])
    assert state_of(job) == (Status.SUCCEEDED, 2)


# --- waiting to retry and the sweep's requeue -----------------------------------------------------


def test_a_transient_error_puts_the_run_in_retrying(case, settings):
    settings.INGEST_MAX_ATTEMPTS = 5
    job = running(case, attempts=2, stage="store")

    assert lifecycle.wait_to_retry(job_id=job.pk, attempt=1, error_type="ReadTimeoutError") is RetryDecision.LOST
    assert lifecycle.wait_to_retry(job_id=job.pk, attempt=2, error_type="ReadTimeoutError") is RetryDecision.RETRY
    job.refresh_from_db()

    assert (job.status, job.attempts, job.error_code) == (Status.RETRYING, 2, "transient")
    assert job.error == (
        "A temporary storage or database error (ReadTimeoutError). Retrying automatically (attempt 2 of 5)."
    )
    assert job.stage == "store"  # where it stopped; the state alone says it is retrying
    # Retrying is not running: a second report of the same run is refused.
    assert lifecycle.wait_to_retry(job_id=job.pk, attempt=2, error_type="X") is RetryDecision.LOST


def test_the_sweep_requeues_a_silent_run_and_leaves_a_live_one(case, django_capture_on_commit_callbacks):
    now = timezone.now()
    silent = running(case, heartbeat_age=HOUR_AGO, task_id="t", stage="meshes")
    live = running(case, heartbeat_age=dt.timedelta(seconds=5))
    stale_before = now - dt.timedelta(minutes=5)

    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert lifecycle.requeue_stuck(job_id=live.pk, stale_before=stale_before, now=now).action is SweepAction.NONE
        outcome = lifecycle.requeue_stuck(job_id=silent.pk, stale_before=stale_before, now=now)
    silent.refresh_from_db()

    assert outcome.action is SweepAction.REQUEUED
    assert len(sent) == 1
    assert (silent.status, silent.attempts, silent.task_id, silent.error_code) == (Status.QUEUED, 1, "", "requeued")
    assert "at stage 'meshes'" in silent.error
    assert state_of(live) == (Status.RUNNING, 1)


@pytest.mark.parametrize("status", [s for s in ALL_STATES if s != Status.RUNNING])
def test_the_sweep_requeues_only_running_jobs(case, status):
    job = make_job(case, status=status, heartbeat_at=timezone.now() - HOUR_AGO)
    now = timezone.now()
    assert lifecycle.requeue_stuck(job_id=job.pk, stale_before=now, now=now).action is SweepAction.NONE
    assert state_of(job)[0] == status


@pytest.mark.parametrize("status", ALL_STATES)
def test_a_lost_task_is_sent_again_only_for_a_job_waiting_for_a_worker(
    case, status, django_capture_on_commit_callbacks
):
    job = make_job(case, status=status)
    IngestJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - dt.timedelta(hours=2))
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as sent:
        fresh = lifecycle.resend_lost(job_id=job.pk, lost_before=now - dt.timedelta(hours=3), now=now)
        resent = lifecycle.resend_lost(job_id=job.pk, lost_before=now - dt.timedelta(hours=1), now=now)

    assert not fresh
    assert resent is (status in lifecycle.WAITING_FOR_A_WORKER)
    assert len(sent) == (1 if resent else 0)
    assert state_of(job)[0] == status  # a new message, the same state


# --- the one give-up policy, at the edge of the budget, for each of its callers --------------------


@pytest.mark.parametrize("budget", [1, 3])
def test_the_claim_gives_up_exactly_when_the_budget_is_spent(case, settings, budget):
    settings.INGEST_MAX_ATTEMPTS = budget
    last = make_job(case, status=Status.RETRYING, attempts=budget - 1)
    spent = make_job(case, status=Status.RETRYING, attempts=budget)

    assert lifecycle.claim(job_id=last.pk, task_id="t", worker="w").claimed
    outcome = lifecycle.claim(job_id=spent.pk, task_id="t", worker="w")
    spent.refresh_from_db()

    assert state_of(last) == (Status.RUNNING, budget)
    assert (outcome.claimed, outcome.gave_up, outcome.refused) == (False, True, "too many attempts")
    assert (spent.status, spent.attempts, spent.error_code) == (Status.FAILED, budget, "too_many_attempts")
    assert f"started {budget} times" in spent.error


@pytest.mark.parametrize("budget", [1, 3])
def test_the_sweep_gives_up_exactly_when_the_budget_is_spent(case, settings, budget):
    settings.INGEST_MAX_ATTEMPTS = budget
    now = timezone.now()
    jobs = [running(case, attempts=n, heartbeat_age=HOUR_AGO) for n in (budget - 1, budget)]

    actions = [lifecycle.requeue_stuck(job_id=j.pk, stale_before=now, now=now).action for j in jobs]

    assert actions == [SweepAction.REQUEUED, SweepAction.GAVE_UP]
    assert [state_of(j) for j in jobs] == [(Status.QUEUED, budget - 1), (Status.FAILED, budget)]
    jobs[1].refresh_from_db()
    assert jobs[1].error_code == "stuck"


@pytest.mark.parametrize("budget", [1, 3])
def test_the_transient_retry_gives_up_exactly_when_the_budget_is_spent(case, settings, budget):
    settings.INGEST_MAX_ATTEMPTS = budget
    jobs = [running(case, attempts=n) for n in (budget - 1, budget)]

    decisions = [lifecycle.wait_to_retry(job_id=j.pk, attempt=j.attempts, error_type="SlowDown") for j in jobs]

    assert decisions == [RetryDecision.RETRY, RetryDecision.GAVE_UP]
    assert [state_of(j) for j in jobs] == [(Status.RETRYING, budget - 1), (Status.FAILED, budget)]
    jobs[1].refresh_from_db()
    assert jobs[1].error_code == "transient_exhausted"
    assert f"(SlowDown) through {budget} attempts" in jobs[1].error


def test_the_api_pairs_of_every_state():
    pairs = {s: lifecycle.public_status(status=s, stage="meshes") for s in ALL_STATES}
    assert pairs == {
        "awaiting_upload": ("queued", "awaiting_upload"),
        "queued": ("queued", "meshes"),
        "running": ("running", "meshes"),
        "retrying": ("queued", "retrying"),
        "succeeded": ("succeeded", "meshes"),
        "failed": ("failed", "meshes"),
    }
    assert set(lifecycle.UNFINISHED) | set(lifecycle.FINISHED) == set(ALL_STATES)


def test_a_transition_inside_a_rolled_back_transaction_sends_nothing(case, django_capture_on_commit_callbacks):
    job = make_job(case, status=Status.FAILED)
    retried: list[bool] = []

    def retry_then_fail() -> None:
        with transaction.atomic():
            retried.append(lifecycle.retry(job_id=job.pk))
            raise RuntimeError("the caller's transaction fails after the transition")

    with django_capture_on_commit_callbacks(execute=False) as sent, pytest.raises(RuntimeError):
        retry_then_fail()

    assert retried == [True]
    assert sent == []
    assert state_of(job)[0] == Status.FAILED
