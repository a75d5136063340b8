"""The periodic sweep: jobs whose worker went silent are requeued, or failed after too many attempts.

A worker that dies with acks_late gets its task redelivered by the broker, but not always (the
message can be lost with a flushed Redis, a purged queue or a deleted SQS message), so the database
is the source of truth: a running job without a fresh heartbeat is stuck. Also: a queued job whose
task never arrived is enqueued again (the run is idempotent, a duplicate task is a no-op), and an
API upload never completed is failed so it stops looking pending. Files are never deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from imaging.models import IngestJob
from imaging.services.jobs import enqueue_job
from imaging.services.stages import STAGE_AWAITING_UPLOAD

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    reenqueued: list[int] = field(default_factory=list)
    abandoned: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.__dict__.items()}

    def __str__(self) -> str:
        return (
            f"{len(self.requeued)} stuck job(s) requeued, {len(self.failed)} failed after too many attempts, "
            f"{len(self.reenqueued)} queued job(s) enqueued again, {len(self.abandoned)} abandoned upload(s) failed"
        )


def sweep_stuck_jobs(*, queryset: QuerySet[IngestJob] | None = None, now=None) -> SweepReport:
    """Requeue or fail stuck jobs (all of them, or those of `queryset`: the admin action)."""
    now = now or timezone.now()
    base = queryset if queryset is not None else IngestJob.objects.all()
    report = SweepReport()
    stale_before = now - timedelta(seconds=settings.INGEST_HEARTBEAT_TIMEOUT_SECONDS)
    stuck = base.filter(status=IngestJob.Status.RUNNING, heartbeat_at__lt=stale_before) | base.filter(
        status=IngestJob.Status.RUNNING, heartbeat_at__isnull=True
    )
    for job_id in stuck.values_list("pk", flat=True):
        _sweep_running(job_id=job_id, stale_before=stale_before, now=now, report=report)

    lost_before = now - timedelta(seconds=settings.INGEST_QUEUED_TIMEOUT_SECONDS)
    lost = base.filter(status=IngestJob.Status.QUEUED, updated_at__lt=lost_before).exclude(stage=STAGE_AWAITING_UPLOAD)
    for job_id in lost.values_list("pk", flat=True):
        with transaction.atomic():
            if IngestJob.objects.filter(pk=job_id, status=IngestJob.Status.QUEUED, updated_at__lt=lost_before).update(
                updated_at=now
            ):
                enqueue_job(job_id=job_id)
                report.reenqueued.append(job_id)

    abandoned_before = now - timedelta(seconds=settings.INGEST_ABANDONED_UPLOAD_SECONDS)
    abandoned = base.filter(
        status=IngestJob.Status.QUEUED, stage=STAGE_AWAITING_UPLOAD, created_at__lt=abandoned_before
    )
    for job_id in abandoned.values_list("pk", flat=True):
        if IngestJob.objects.filter(pk=job_id, status=IngestJob.Status.QUEUED, stage=STAGE_AWAITING_UPLOAD).update(
            status=IngestJob.Status.FAILED,
            error_code="upload_abandoned",
            error="The upload was never completed, so nothing was converted. Files already sent are kept; "
            "start a new upload to ingest them.",
            finished_at=now,
            updated_at=now,
        ):
            report.abandoned.append(job_id)
    if any(report.as_dict().values()):
        logger.warning("Ingest sweep: %s", report)
    return report


def _sweep_running(*, job_id: int, stale_before, now, report: SweepReport) -> None:
    from imaging.services.runner import prune_job_assets

    gave_up: IngestJob | None = None
    with transaction.atomic():
        job = IngestJob.objects.select_for_update().filter(pk=job_id, status=IngestJob.Status.RUNNING).first()
        if job is None or (job.heartbeat_at is not None and job.heartbeat_at >= stale_before):
            return  # it finished or came back to life meanwhile
        silent = (
            "never reported" if job.heartbeat_at is None else f"silent since {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC"
        )
        if job.attempts >= settings.INGEST_MAX_ATTEMPTS:
            job.status = IngestJob.Status.FAILED
            job.error_code = "stuck"
            job.error = (
                f"The job's worker stopped responding ({silent}) and the job had already been started "
                f"{job.attempts} times. The upload is kept; check the workers' logs and memory, then retry the job."
            )
            job.finished_at = now
            job.save()
            gave_up = job
            report.failed.append(job_id)
        else:
            job.error_code = "requeued"
            job.error = f"Requeued by the sweep: the worker stopped responding ({silent}) at stage '{job.stage}'."
            job.status = IngestJob.Status.QUEUED
            job.stage = ""
            job.task_id = ""
            job.save()
            enqueue_job(job_id=job_id)
            report.requeued.append(job_id)
    if gave_up is not None:
        _prune_quietly(prune_job_assets, gave_up)


def _prune_quietly(prune, job: IngestJob) -> None:
    try:
        prune(job=job)
    except Exception:
        logger.exception("Could not remove the unreferenced assets of ingest job %s", job.pk)
