"""Transitions racing each other on PostgreSQL: the database decides, exactly one wins.

Each contender runs in a thread with its own connection. The test holds the job's row lock first and
lets go only once PostgreSQL shows every contender waiting for it (pg_locks), so they really do meet
at the row rather than happening to run one after the other. They queue in the order they are
started (each waits before the next starts), and PostgreSQL hands a row lock to its waiters in that
order: which one comes first is the test's choice, what the second then finds is the database's.

Transitions into `queued` send the job's task on commit; without a broker it runs in the thread that
committed (and fails at once: these jobs have no files). The assertions are about the race.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from cases.models import Case
from imaging.models import IngestJob
from imaging.services import lifecycle

pytestmark = pytest.mark.django_db(transaction=True)

Status = IngestJob.Status


class Contender(threading.Thread):
    """Runs one call on its own connection; remembers its backend pid, its result or its error."""

    def __init__(self, call: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.pid: int | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.connected = threading.Event()

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.connected.set()
            self.result = self.call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test, not lost in the thread
            self.error = exc
        finally:
            self.connected.set()
            connections.close_all()


def _waiting(pids: list[int]) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pid = ANY(%s)", [pids])
        return cursor.fetchone()[0]


def wait_until_blocked(contender: Contender) -> None:
    assert contender.connected.wait(timeout=30)
    deadline = time.monotonic() + 30
    while contender.pid is None or _waiting([contender.pid]) < 1:
        assert contender.error is None, contender.error
        assert contender.is_alive(), "the contender finished without waiting for the row lock"
        assert time.monotonic() < deadline, "the contender never reached the row lock"
        time.sleep(0.02)


def contend(job_id: int, calls: list[Callable[[], Any]]) -> list[Any]:
    """Queue every call, in order, behind this connection's lock on the job's row; then release it."""
    contenders = [Contender(call) for call in calls]
    with transaction.atomic():
        IngestJob.objects.select_for_update().get(pk=job_id)
        for contender in contenders:
            contender.start()
            wait_until_blocked(contender)
    for contender in contenders:
        contender.join(timeout=30)
        assert not contender.is_alive()
        if contender.error is not None:
            raise contender.error
    return [c.result for c in contenders]


def make_job(case: Case, **fields: Any) -> IngestJob:
    return IngestJob.objects.create(case=case, source_key=f"uploads/{case.pk}/u/series.zip", **fields)


def test_two_workers_claiming_one_job_at_once_start_it_once(case):
    job = make_job(case, status=Status.QUEUED)

    claims = contend(
        job.pk,
        [
            lambda: lifecycle.claim(job_id=job.pk, task_id="task-a", worker="a:1"),
            lambda: lifecycle.claim(job_id=job.pk, task_id="task-b", worker="b:2"),
        ],
    )
    job.refresh_from_db()

    assert [(c.claimed, c.refused) for c in claims] == [(True, ""), (False, "running elsewhere")]
    assert (job.status, job.attempts, job.task_id, job.worker) == (Status.RUNNING, 1, "task-a", "a:1")


def test_a_claim_behind_a_curators_retry_starts_the_fresh_budget(case, settings):
    settings.INGEST_MAX_ATTEMPTS = 2
    job = make_job(case, status=Status.FAILED, attempts=2)

    retried, claimed = contend(
        job.pk,
        [
            lambda: lifecycle.retry(job_id=job.pk),
            lambda: lifecycle.claim(job_id=job.pk, task_id="late", worker="w:1"),
        ],
    )

    assert retried is True
    # The claim re-read the row after the retry committed: queued with no attempts, not failed.
    assert (claimed.claimed, claimed.attempt) == (True, 1)


def test_a_redelivered_task_waits_for_a_run_that_is_recording_and_then_finds_it_finished(case):
    """The run locks its job for the transaction that records the outputs (`hold_run`), so the
    redelivery of its own task, which would otherwise take it over, waits and then sees it done."""
    job = make_job(case, status=Status.QUEUED)
    first = lifecycle.claim(job_id=job.pk, task_id="task-1", worker="a:1")
    holding, finish = threading.Event(), threading.Event()

    def record() -> bool:
        with transaction.atomic():
            assert lifecycle.hold_run(job_id=job.pk, attempt=first.attempt)
            holding.set()
            assert finish.wait(timeout=30)
            return lifecycle.succeed(job_id=job.pk, attempt=first.attempt, checksum="c", stage_seconds={}, warnings=[])

    recorder = Contender(record)
    recorder.start()
    assert holding.wait(timeout=30)
    redelivery = Contender(lambda: lifecycle.claim(job_id=job.pk, task_id="task-1", worker="b:2"))
    redelivery.start()
    wait_until_blocked(redelivery)
    finish.set()
    for thread in (recorder, redelivery):
        thread.join(timeout=30)
        assert thread.error is None, thread.error

    assert recorder.result is True
    assert (redelivery.result.claimed, redelivery.result.refused) == (False, "already finished")
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == (Status.SUCCEEDED, 1, "a:1")


@pytest.mark.parametrize("sweep_first", [True, False])
def test_the_sweep_and_a_late_heartbeat_never_both_win(case, sweep_first):
    """The sweep requeues a silent run under the row lock; a heartbeat of that run arriving meanwhile
    waits, then finds the job no longer its own (the run stops at its next report). The other way
    round, the heartbeat makes the run fresh again and the sweep, re-checking, leaves it alone."""
    now = timezone.now()
    job = make_job(case, status=Status.RUNNING, attempts=1, heartbeat_at=now - dt.timedelta(hours=1))

    def sweep() -> lifecycle.Requeue:
        return lifecycle.requeue_stuck(job_id=job.pk, stale_before=now, now=now)

    def heartbeat() -> bool:
        return lifecycle.heartbeat(job_id=job.pk, attempt=1)

    if sweep_first:
        requeue, beat = contend(job.pk, [sweep, heartbeat])
    else:
        beat, requeue = contend(job.pk, [heartbeat, sweep])

    assert (requeue.action is lifecycle.SweepAction.REQUEUED) is sweep_first
    assert beat is not sweep_first
