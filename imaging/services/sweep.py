"""The periodic sweep: jobs whose worker went silent are requeued, or failed after too many attempts.

A worker that dies with acks_late gets its task redelivered by the broker, but not always (the
message can be lost with a flushed Redis, a purged queue or a deleted SQS message), so the database
is the source of truth: a running job without a fresh heartbeat is stuck. Also: a queued job whose
task never arrived is enqueued again (the run is idempotent, a duplicate task is a no-op), and an
API upload never completed is failed so it stops looking pending. Uploads are never deleted; the
assets a given-up job's dead runs left are. Each change of state is a `lifecycle` transition, which
checks its precondition again under its own lock: the sweep only chooses the candidates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from imaging.models import IngestJob
from imaging.services import lifecycle
from imaging.services.pruning import prune_job_assets_quietly

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


def sweep_stuck_jobs(*, queryset: QuerySet[IngestJob] | None = None, now: datetime | None = None) -> SweepReport:
    """Requeue or fail stuck jobs (all of them, or those of `queryset`: the admin action)."""
    now = now or timezone.now()
    base = queryset if queryset is not None else IngestJob.objects.all()
    report = SweepReport()
    _sweep_silent_runs(base, now=now, report=report)
    _resend_lost_tasks(base, now=now, report=report)
    _fail_abandoned_uploads(base, now=now, report=report)
    if any(report.as_dict().values()):
        logger.warning("Ingest sweep: %s", report)
    return report


def _sweep_silent_runs(base: QuerySet[IngestJob], *, now: datetime, report: SweepReport) -> None:
    """Running jobs whose heartbeat went stale: requeued, or failed once their attempt budget is spent."""
    stale_before = now - timedelta(seconds=settings.INGEST_HEARTBEAT_TIMEOUT_SECONDS)
    running = base.filter(status=IngestJob.Status.RUNNING)
    stuck = running.filter(heartbeat_at__lt=stale_before) | running.filter(heartbeat_at__isnull=True)
    for job_id in stuck.values_list("pk", flat=True):
        outcome = lifecycle.requeue_stuck(job_id=job_id, stale_before=stale_before, now=now)
        if outcome.action is lifecycle.SweepAction.REQUEUED:
            report.requeued.append(job_id)
        elif outcome.action is lifecycle.SweepAction.GAVE_UP and outcome.job is not None:
            report.failed.append(job_id)
            prune_job_assets_quietly(job=outcome.job)  # after the commit: a dead run may have left files


def _resend_lost_tasks(base: QuerySet[IngestJob], *, now: datetime, report: SweepReport) -> None:
    """Jobs waiting for a worker for longer than INGEST_QUEUED_TIMEOUT_SECONDS: their task was lost."""
    lost_before = now - timedelta(seconds=settings.INGEST_QUEUED_TIMEOUT_SECONDS)
    lost = base.filter(status__in=lifecycle.WAITING_FOR_A_WORKER, updated_at__lt=lost_before)
    for job_id in lost.values_list("pk", flat=True):
        if lifecycle.resend_lost(job_id=job_id, lost_before=lost_before, now=now):
            report.reenqueued.append(job_id)


def _fail_abandoned_uploads(base: QuerySet[IngestJob], *, now: datetime, report: SweepReport) -> None:
    """Uploads never completed within INGEST_ABANDONED_UPLOAD_SECONDS stop looking pending."""
    abandoned_before = now - timedelta(seconds=settings.INGEST_ABANDONED_UPLOAD_SECONDS)
    abandoned = base.filter(status=IngestJob.Status.AWAITING_UPLOAD, created_at__lt=abandoned_before)
    for job_id in abandoned.values_list("pk", flat=True):
        if lifecycle.abandon_upload(job_id=job_id, created_before=abandoned_before, now=now):
            report.abandoned.append(job_id)
