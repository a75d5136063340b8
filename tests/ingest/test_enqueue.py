"""Handing a job to a worker (`imaging.services.enqueue`), with a broker and without one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from celery import Celery, current_app
from celery.app import app_or_default

from imaging.models import IngestJob
from imaging.services import enqueue, lifecycle
from imaging.services.jobs import ingest_local_paths
from tests.ingest.processes import REDIS_URL

pytestmark = pytest.mark.django_db


def test_without_a_broker_the_task_runs_in_this_process_after_the_commit(
    case, phantom, django_capture_on_commit_callbacks
):
    assert current_app.conf.task_always_eager  # the test settings configure no broker
    job = ingest_local_paths(case=case, paths=[phantom.series_dir], enqueue=False)

    with django_capture_on_commit_callbacks(execute=False) as pending:
        enqueue.enqueue_job(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == IngestJob.Status.QUEUED  # nothing ran before the commit
    assert len(pending) == 1

    pending[0]()  # the commit
    job.refresh_from_db()
    assert (job.status, job.attempts) == (IngestJob.Status.SUCCEEDED, 1), job.error


@pytest.fixture
def broker_app() -> Iterator[tuple[Celery, str]]:
    """A Celery app publishing to Redis (this engineer's db), made the current app for the test."""
    queue = f"hpb-enqueue-{uuid.uuid4().hex[:8]}"
    app = Celery("enqueue-test", broker=REDIS_URL, set_as_current=False)
    app.conf.update(task_always_eager=False, task_default_queue=queue, broker_connection_retry_on_startup=False)
    previous = app_or_default()
    app.set_current()
    try:
        yield app, queue
    finally:
        previous.set_current()
        with app.connection_for_write() as conn:
            conn.SimpleQueue(queue).clear()
        app.close()


def test_with_a_broker_the_task_is_sent_by_name_when_the_state_commits(
    case, broker_app, django_capture_on_commit_callbacks
):
    app, queue = broker_app
    job = IngestJob.objects.create(case=case, status=IngestJob.Status.AWAITING_UPLOAD)

    broker = redis.Redis.from_url(REDIS_URL)  # kombu keeps a Redis queue as a list of that name

    with django_capture_on_commit_callbacks(execute=False) as pending:
        assert lifecycle.submit(job_id=job.pk)
    assert broker.llen(queue) == 0  # the state has not committed: nothing was sent

    for callback in pending:  # the commit
        callback()
    assert broker.llen(queue) == 1
    with app.connection_for_read() as conn:
        message = conn.SimpleQueue(queue).get(timeout=10)
        message.ack()
    args, kwargs, _embed = message.decode()
    assert message.headers["task"] == "imaging.tasks.run_ingest_job"
    assert (args, kwargs) == ([job.pk], {})
    job.refresh_from_db()
    assert (job.status, job.attempts) == (IngestJob.Status.QUEUED, 0)  # sent, not run here
