"""The life of an ingest job: the only module that changes `IngestJob.status`.

```
 (new) ──await_upload──▶ awaiting_upload ──submit──▶ queued ◀──retry── failed | succeeded
 (new) ──submit_new────────────────────────────────▶ queued
 (new) ──submit_new(refusal=...)──▶ failed          (an S3 manifest that cannot be read)
 queued | retrying | running (its run is dead) ──claim──▶ running          (attempts + 1)
 running ──succeed──▶ succeeded
 running ──wait_to_retry──▶ retrying               (a transient error; the task retries later)
 running (silent) ──requeue_stuck──▶ queued
 queued | retrying (its task lost) ──resend_lost──▶ the same state, the task sent again
 claim | wait_to_retry | requeue_stuck, budget spent ──give up──▶ failed
 awaiting_upload | queued | retrying | running ──fail──▶ failed
 awaiting_upload (never completed) ──abandon_upload──▶ failed
```

Each transition is one function whose precondition is checked by the database, not by a value read
earlier: a conditional `UPDATE ... WHERE status IN (...) [AND attempts = ...]`, or `SELECT ... FOR
UPDATE` where several fields decide (the claim, the sweep's requeue, the transient retry). It returns
whether it happened; `False` is a normal answer under concurrency (a redelivered task, the sweep and
a curator may all act on one job at once) and the caller moves on.

A run owns its job while the job is `running` with `attempts` equal to the run's attempt: every write
of a run (progress, heartbeat, success, retry, failure) is fenced by that pair, so a run that lost the
job to another run (a redelivery, the sweep, a curator's retry) changes nothing.

One give-up policy, `attempts_exhausted`: a job claimed `INGEST_MAX_ATTEMPTS` times gets no further
run, whoever notices first: the claim (`too_many_attempts`), the sweep (`stuck`) or the transient retry
(`transient_exhausted`). The three codes stay as the recorded cause.

Transitions into `queued` enqueue the job's task in the same transaction (`imaging.services.enqueue`,
sent on commit). The API still shows the old (status, stage) pairs: `public_status`. The states, the
transitions and who calls each: docs/ingest-job-states.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from imaging.models import IngestJob
from imaging.services.enqueue import enqueue_job
from imaging.services.stages import STAGE_AWAITING_UPLOAD, STAGE_DONE, STAGE_DOWNLOAD, STAGE_RETRYING

logger = logging.getLogger(__name__)

Status = IngestJob.Status

UNFINISHED: tuple[str, ...] = (Status.AWAITING_UPLOAD, Status.QUEUED, Status.RETRYING, Status.RUNNING)
FINISHED: tuple[str, ...] = (Status.SUCCEEDED, Status.FAILED)
WAITING_FOR_A_WORKER: tuple[str, ...] = (Status.QUEUED, Status.RETRYING)

# The causes a give-up records (error_code), one per caller of the policy.
TOO_MANY_ATTEMPTS = "too_many_attempts"
STUCK = "stuck"
TRANSIENT_EXHAUSTED = "transient_exhausted"

# What the API has shown since before these states existed: (status, stage) for the two newer states.
PUBLIC_PAIRS: dict[str, tuple[str, str]] = {
    Status.AWAITING_UPLOAD: (Status.QUEUED, STAGE_AWAITING_UPLOAD),
    Status.RETRYING: (Status.QUEUED, STAGE_RETRYING),
}
PUBLIC_STATUSES: tuple[str, ...] = (Status.QUEUED, Status.RUNNING, Status.SUCCEEDED, Status.FAILED)


def attempts_exhausted(attempts: int) -> bool:
    """The one give-up policy: a job claimed INGEST_MAX_ATTEMPTS times gets no further run."""
    return attempts >= settings.INGEST_MAX_ATTEMPTS


def public_status(*, status: str, stage: str) -> tuple[str, str]:
    """The (status, stage) the API reports for a job: its state, except for the two states that used
    to be a stage of `queued`, which keep showing as that pair to existing clients."""
    return PUBLIC_PAIRS.get(status, (status, stage))


# --- Creating -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why a job is failed from the start (a manifest that cannot be read): shown to curators."""

    code: str
    message: str


def await_upload(**fields: Any) -> IngestJob:
    """(new) -> awaiting_upload: a job that owns its upload prefix before the files arrive."""
    return IngestJob.objects.create(status=Status.AWAITING_UPLOAD, stage="", **fields)


def submit_new(*, refusal: Refusal | None = None, **fields: Any) -> IngestJob:
    """(new) -> queued, enqueued on commit: a job whose source is complete at once (an S3 event).

    With a `refusal` the job is created failed instead (nothing to run). Raises IntegrityError when a
    unique constraint says the job exists already (a duplicate event); nothing is enqueued then.
    """
    now = timezone.now()
    with transaction.atomic():
        if refusal is not None:
            job = IngestJob.objects.create(
                status=Status.FAILED, error_code=refusal.code[:64], error=refusal.message, finished_at=now, **fields
            )
            logger.warning("Ingest job %s failed: %s", job.pk, refusal.code)
            return job
        job = IngestJob.objects.create(status=Status.QUEUED, **fields)
        enqueue_job(job_id=job.pk)
    return job


def submit(*, job_id: int, enqueue: bool = True) -> bool:
    """awaiting_upload -> queued once every file is stored; the task is sent when this commits.

    With `enqueue=False` the caller runs the job in process (`ingest_dicom`, the seed).
    """
    with transaction.atomic():
        moved = _move(job_id, source=[Status.AWAITING_UPLOAD], target=Status.QUEUED, stage="", progress=0.0)
        if moved and enqueue:
            enqueue_job(job_id=job_id)
    return moved


# --- A run: claim, progress, success --------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """What `claim` did. `claimed`: this run now owns `job` as attempt `job.attempts`."""

    job_id: int
    status: str  # the job's status after the claim ("missing": no such job)
    job: IngestJob | None = None
    claimed: bool = False
    refused: str = ""  # why not claimed
    gave_up: bool = False  # the attempt budget was spent: the job failed now

    @property
    def attempt(self) -> int:
        return self.job.attempts if self.job is not None else 0


def claim(*, job_id: int, task_id: str, worker: str) -> Claim:
    """queued | retrying | running whose run is dead -> running, one more attempt; or give up.

    Under a row lock: the status, the attempts, the heartbeat and the task id all decide.
    """
    now = timezone.now()
    with transaction.atomic():
        job = IngestJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return Claim(job_id=job_id, status="missing", refused="no such job")
        refused = _claim_refusal(job, task_id=task_id, now=now)
        if refused:
            return Claim(job_id=job_id, status=job.status, job=job, refused=refused)
        if attempts_exhausted(job.attempts):
            lost = (
                " (its worker stopped responding or was killed, e.g. out of memory)"
                if job.status == Status.RUNNING
                else ""
            )
            message = (
                f"The job was started {job.attempts} times without finishing{lost}. "
                "The upload is kept; check the workers, then retry the job."
            )
            _give_up(job, code=TOO_MANY_ATTEMPTS, message=message, now=now)
            return Claim(job_id=job_id, status=job.status, job=job, refused="too many attempts", gave_up=True)
        _start_run(job, task_id=task_id, worker=worker, now=now)
    return Claim(job_id=job_id, status=job.status, job=job, claimed=True)


def _claim_refusal(job: IngestJob, *, task_id: str, now: datetime) -> str:
    if job.status in FINISHED:
        return "already finished"
    if job.status == Status.AWAITING_UPLOAD:
        return "upload not complete"
    if job.status == Status.RUNNING and not _previous_run_is_dead(job, task_id=task_id, now=now):
        return "running elsewhere"
    return ""


def _previous_run_is_dead(job: IngestJob, *, task_id: str, now: datetime) -> bool:
    """A running job's previous run is known dead when its heartbeat went stale, or when the broker
    redelivers the very task that was running it: acks_late messages come back only once their
    worker is gone (the visibility timeout exceeds the hard time limit)."""
    if task_id and job.task_id == task_id:
        return True
    timeout = timedelta(seconds=settings.INGEST_HEARTBEAT_TIMEOUT_SECONDS)
    return job.heartbeat_at is None or job.heartbeat_at < now - timeout


def _start_run(job: IngestJob, *, task_id: str, worker: str, now: datetime) -> None:
    job.status = Status.RUNNING
    job.attempts += 1
    job.stage = STAGE_DOWNLOAD
    job.progress = 0.0
    job.error = ""
    job.error_code = ""
    job.started_at = now
    job.finished_at = None
    job.heartbeat_at = now
    job.task_id = task_id[:64]
    job.worker = worker[:255]
    job.save(
        update_fields=[
            "status",
            "attempts",
            "stage",
            "progress",
            "error",
            "error_code",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "task_id",
            "worker",
            "updated_at",
        ]
    )


def report_progress(*, job_id: int, attempt: int, stage: str, progress: float) -> bool:
    """running (this attempt): its stage and progress, and a sign of life. False: the run lost the job."""
    now = timezone.now()
    return bool(
        _owned_by(job_id, attempt).update(
            stage=stage[:32], progress=round(progress, 4), heartbeat_at=now, updated_at=now
        )
    )


def heartbeat(*, job_id: int, attempt: int) -> bool:
    """running (this attempt): a sign of life only, so the sweep does not take a long silent stage for
    a dead worker. False: the run lost the job."""
    return bool(_owned_by(job_id, attempt).update(heartbeat_at=timezone.now()))


def hold_run(*, job_id: int, attempt: int) -> bool:
    """Lock the job's row for the rest of the transaction if the run still owns it.

    The run's outputs are recorded in the same transaction, then `succeed`: between the two no other
    run can claim the job, so a run that is recording is never taken over half-way.
    """
    return _owned_by(job_id, attempt).select_for_update().exists()


def succeed(
    *, job_id: int, attempt: int, checksum: str, stage_seconds: dict[str, float], warnings: Sequence[str]
) -> bool:
    """running (this attempt) -> succeeded. Inside the transaction that records the outputs: a False
    (the run lost the job) must roll that transaction back."""
    now = timezone.now()
    return _move(
        job_id,
        source=[Status.RUNNING],
        attempt=attempt,
        target=Status.SUCCEEDED,
        stage=STAGE_DONE,
        progress=1.0,
        checksum=checksum,
        stage_seconds=dict(stage_seconds),
        warnings=list(warnings),
        finished_at=now,
        heartbeat_at=now,
    )


# --- Retrying, requeueing, giving up --------------------------------------------------------------


class RetryDecision(StrEnum):
    RETRY = "retry"  # the job is retrying: the caller retries the task after a backoff
    GAVE_UP = "gave up"  # the attempt budget was spent: the job failed (transient_exhausted)
    LOST = "lost"  # the run no longer owns the job: nothing changed


def wait_to_retry(*, job_id: int, attempt: int, error_type: str) -> RetryDecision:
    """running (this attempt) -> retrying after a transient storage or database error; or give up."""
    now = timezone.now()
    with transaction.atomic():
        job = _owned_by(job_id, attempt).select_for_update().first()
        if job is None:
            return RetryDecision.LOST
        if attempts_exhausted(job.attempts):
            message = (
                f"The storage or the database kept failing ({error_type}) through {job.attempts} attempts. "
                "The upload is kept; retry the job once the service is back."
            )
            _give_up(job, code=TRANSIENT_EXHAUSTED, message=message, now=now)
            return RetryDecision.GAVE_UP
        job.status = Status.RETRYING
        job.error_code = "transient"
        job.error = (
            f"A temporary storage or database error ({error_type}). Retrying automatically "
            f"(attempt {job.attempts} of {settings.INGEST_MAX_ATTEMPTS})."
        )
        job.save(update_fields=["status", "error_code", "error", "updated_at"])
    return RetryDecision.RETRY


class SweepAction(StrEnum):
    REQUEUED = "requeued"
    GAVE_UP = "gave up"  # the attempt budget was spent: the job failed (stuck)
    NONE = "none"  # it finished or came back to life meanwhile


@dataclass(frozen=True)
class Requeue:
    action: SweepAction
    job: IngestJob | None = None


def requeue_stuck(*, job_id: int, stale_before: datetime, now: datetime) -> Requeue:
    """running with a heartbeat older than `stale_before` -> queued (enqueued on commit); or give up.

    Its worker went silent: dead, or cut off from the database. The attempt count is kept, so a job
    that kills its worker every time (out of memory) reaches the budget.
    """
    with transaction.atomic():
        job = IngestJob.objects.select_for_update().filter(pk=job_id, status=Status.RUNNING).first()
        if job is None or (job.heartbeat_at is not None and job.heartbeat_at >= stale_before):
            return Requeue(SweepAction.NONE)
        silent = (
            "never reported" if job.heartbeat_at is None else f"silent since {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
        )
        if attempts_exhausted(job.attempts):
            message = (
                f"The job's worker stopped responding ({silent}) and the job had already been started "
                f"{job.attempts} times. The upload is kept; check the workers' logs and memory, then retry the job."
            )
            _give_up(job, code=STUCK, message=message, now=now)
            return Requeue(SweepAction.GAVE_UP, job)
        job.error_code = "requeued"
        job.error = f"Requeued by the sweep: the worker stopped responding ({silent}) at stage '{job.stage}'."
        job.status = Status.QUEUED
        job.stage = ""
        job.task_id = ""
        job.save(update_fields=["error_code", "error", "status", "stage", "task_id", "updated_at"])
        enqueue_job(job_id=job_id)
    return Requeue(SweepAction.REQUEUED, job)


def resend_lost(*, job_id: int, lost_before: datetime, now: datetime) -> bool:
    """queued | retrying, unchanged since `lost_before`: its task never arrived, so send it again.

    The state stays; a duplicate task is harmless (the claim refuses a job another run owns).
    """
    with transaction.atomic():
        resent = bool(
            IngestJob.objects.filter(pk=job_id, status__in=WAITING_FOR_A_WORKER, updated_at__lt=lost_before).update(
                updated_at=now
            )
        )
        if resent:
            enqueue_job(job_id=job_id)
    return resent


def _give_up(job: IngestJob, *, code: str, message: str, now: datetime) -> None:
    """Fail a job whose attempt budget is spent (its row locked by the caller)."""
    job.status = Status.FAILED
    job.error_code = code
    job.error = message
    job.finished_at = now
    job.save(update_fields=["status", "error_code", "error", "finished_at", "updated_at"])
    logger.warning("Ingest job %s failed: %s", job.pk, code)


# --- Failing and the curator's retry ---------------------------------------------------------------


def fail(*, job_id: int, code: str, message: str, attempt: int | None = None) -> bool:
    """Any unfinished state -> failed, with a message a curator can act on.

    With `attempt`, only while that run still owns the job, or the sweep requeued it from under the
    run and nobody claimed it since (the run's verdict on the input holds for the next run too).
    """
    if attempt is None:
        source: tuple[str, ...] = UNFINISHED
    else:
        source = (Status.RUNNING, Status.QUEUED)
    now = timezone.now()
    failed = _move(
        job_id,
        source=source,
        attempt=attempt,
        target=Status.FAILED,
        error_code=code[:64],
        error=message,
        finished_at=now,
    )
    if failed:
        # The code is safe to log; the message may quote a file name, which may name a patient.
        logger.warning("Ingest job %s failed: %s", job_id, code)
    return failed


def abandon_upload(*, job_id: int, created_before: datetime, now: datetime) -> bool:
    """awaiting_upload since before `created_before` -> failed: the upload was never completed."""
    return bool(
        IngestJob.objects.filter(pk=job_id, status=Status.AWAITING_UPLOAD, created_at__lt=created_before).update(
            status=Status.FAILED,
            error_code="upload_abandoned",
            error="The upload was never completed, so nothing was converted. Files already sent are kept; "
            "start a new upload to ingest them.",
            finished_at=now,
            updated_at=now,
        )
    )


def retry(*, job_id: int) -> bool:
    """failed | succeeded -> queued with a fresh attempt budget (a curator's retry), enqueued on commit.

    Re-running replaces the job's outputs; it never duplicates them. Unfinished jobs are left alone.
    """
    with transaction.atomic():
        moved = _move(
            job_id,
            source=FINISHED,
            target=Status.QUEUED,
            stage="",
            progress=0.0,
            error="",
            error_code="",
            attempts=0,
            finished_at=None,
        )
        if moved:
            enqueue_job(job_id=job_id)
    if moved:
        logger.info("Ingest job %s queued again", job_id)
    return moved


# --- The conditional UPDATE behind most transitions ------------------------------------------------


def _owned_by(job_id: int, attempt: int) -> QuerySet[IngestJob]:
    return IngestJob.objects.filter(pk=job_id, status=Status.RUNNING, attempts=attempt)


def _move(job_id: int, *, source: Sequence[str], target: str, attempt: int | None = None, **fields: Any) -> bool:
    """UPDATE ... SET status = target WHERE id = job_id AND status IN source [AND attempts = attempt]."""
    jobs = IngestJob.objects.filter(pk=job_id, status__in=list(source))
    if attempt is not None:
        jobs = jobs.filter(attempts=attempt)
    return bool(jobs.update(status=target, updated_at=timezone.now(), **fields))
