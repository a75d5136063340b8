"""Celery tasks of ingestion: thin, id-based and idempotent; the work is in `imaging.services`.

`acks_late` and `reject_on_worker_lost` (global settings) make a task whose worker dies come back to
another worker; the run service recognises the redelivery and takes the job over. The services send
these tasks by name (`imaging.services.enqueue`) and never import this module.

Only transient storage or database errors are retried here, with exponential backoff and full
jitter. The run service has put the job in `retrying` before re-raising one, or given the job up
instead when its attempt budget was spent (`lifecycle.attempts_exhausted`, cause
`transient_exhausted`). One it could not record (the database itself was unreachable) is retried
all the same: the next claim counts the attempt and applies the budget. A refused input fails the
job at once and is never retried.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from imaging.services import bundles, runner, sweep
from imaging.services.transient import is_transient

logger = logging.getLogger(__name__)

RETRY_BACKOFF_FACTOR_SECONDS = 5


@shared_task(
    bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, name="imaging.tasks.run_ingest_job"
)
def run_ingest_job(self: Task, job_id: int) -> str:
    """Convert the upload of job `job_id` into a study and its structures; returns the job's status."""
    try:
        return runner.run_job(job_id=job_id, task_id=self.request.id or "").status
    except Exception as exc:
        if not is_transient(exc):
            raise
        countdown = get_exponential_backoff_interval(
            factor=RETRY_BACKOFF_FACTOR_SECONDS,
            retries=self.request.retries,
            maximum=settings.INGEST_RETRY_BACKOFF_MAX_SECONDS,
            full_jitter=True,
        )
        logger.warning("Ingest job %s hit %s; retrying in %s s", job_id, type(exc).__name__, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="imaging.tasks.sweep_stuck_ingest_jobs")
def sweep_stuck_ingest_jobs() -> dict[str, int]:
    """Periodic (Celery beat): requeue or fail jobs whose worker went silent."""
    return sweep.sweep_stuck_jobs().as_dict()


@shared_task(
    bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=8, name="imaging.tasks.sync_viewer_bundle"
)
def sync_viewer_bundle(self: Task, case_id: int) -> str:
    """Publish, refresh or remove the case's viewer bundle (idempotent); returns what was done."""
    try:
        return bundles.sync_bundle(case_id=case_id).action
    except Exception as exc:
        if not is_transient(exc):
            raise
        countdown = get_exponential_backoff_interval(
            factor=RETRY_BACKOFF_FACTOR_SECONDS,
            retries=self.request.retries,
            maximum=settings.INGEST_RETRY_BACKOFF_MAX_SECONDS,
            full_jitter=True,
        )
        logger.warning("Viewer bundle of case %s hit %s; retrying in %s s", case_id, type(exc).__name__, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
