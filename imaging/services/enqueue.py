"""The one place an ingest job is handed to a worker: `enqueue_job(job_id=...)`, when the state commits.

The task is sent by its registered name, so no service imports `imaging.tasks` (the tasks import the
services; the other way round was an import circle). Every transition that puts a job in the queue
calls `enqueue_job` inside its own transaction (`imaging.services.lifecycle`), and the message leaves
only when that transaction commits: a worker never sees a job id whose state is not yet visible, and a
rolled-back state change sends nothing.

Without a broker (`CELERY_TASK_ALWAYS_EAGER`: the `make run` demo, the tests) the task runs in this
process after the commit, as `task.delay()` would. `send_task` does not honour eager mode (it would
publish to the configured broker, or to nowhere), so that mode looks the task up in the app's registry
and applies it instead.

This is also where a transactional outbox will go (the "must enqueue" recorded in the same transaction
as the state change, re-sent by the sweep): keep every enqueue going through `enqueue_job`.
"""

from __future__ import annotations

import functools

from celery import Celery, Task, current_app
from django.conf import settings
from django.db import transaction

RUN_INGEST_JOB = "imaging.tasks.run_ingest_job"
SYNC_VIEWER_BUNDLE = "imaging.tasks.sync_viewer_bundle"


def enqueue_job(*, job_id: int) -> None:
    """Send the job's task once the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(functools.partial(send_run_task, job_id=job_id))


def send_run_task(*, job_id: int) -> None:
    """Send (or, in eager mode, run here) the task of one job, now."""
    app = current_app
    if app.conf.task_always_eager:
        _registered_task(app, RUN_INGEST_JOB).apply_async(args=(job_id,))
    else:
        app.send_task(RUN_INGEST_JOB, args=(job_id,))


def enqueue_bundle(*, case_id: int) -> None:
    """Rebuild (or remove) the case's viewer bundle once the surrounding transaction commits.

    Debounced: one send per case per transaction (a save of a case with its documents and structures
    asks once), and with a broker the task waits `VIEWER_BUNDLE_DEBOUNCE_SECONDS`, so a burst of
    changes over a second or two finds the later tasks with nothing left to do (the bundle compares its
    content hash first; see imaging.services.bundles).
    """
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(
        isinstance(item[1], BundleSend) and item[1].case_id == case_id and not item[1].sent
        for item in connection.run_on_commit
    ):
        return
    transaction.on_commit(BundleSend(case_id))


class BundleSend:
    """The on-commit callback of one case's bundle rebuild (recognisable, so a transaction asks once)."""

    def __init__(self, case_id: int) -> None:
        self.case_id = case_id
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        send_bundle_task(case_id=self.case_id)


def send_bundle_task(*, case_id: int) -> None:
    app = current_app
    if app.conf.task_always_eager:
        _registered_task(app, SYNC_VIEWER_BUNDLE).apply_async(args=(case_id,))
    else:
        countdown = max(0.0, float(settings.VIEWER_BUNDLE_DEBOUNCE_SECONDS))
        app.send_task(SYNC_VIEWER_BUNDLE, args=(case_id,), countdown=countdown)


def _registered_task(app: Celery, name: str) -> Task:
    """The app's task of that name, importing the apps' task modules first if nothing imported them yet."""
    if name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[name]
