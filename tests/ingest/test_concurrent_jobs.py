"""Two jobs of one case at the same time: one study per series, no file pruned from under a job.

The jobs run for real in two threads, each with its own PostgreSQL connection. A barrier after the
conversion makes both reach "pick the study" together, which is the interleaving that used to give one
series two studies: without the case's assets lock this test fails.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from imaging.models import CaseStructure, ImagingStudy, IngestJob
from imaging.services import runner
from imaging.services.jobs import ingest_local_paths
from imaging.services.locks import ADVISORY_NAMESPACE, case_assets_lock
from imaging.services.runner import run_job
from tests.factories import CaseFactory
from tests.ingest.conftest import stored_keys

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_threads(targets: list[Callable[[], object]]) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrapped(target: Callable[[], object]) -> None:
        try:
            target()
        except Exception as exc:  # noqa: BLE001 - reported to the test, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrapped, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a job never finished"
    return errors


def test_two_jobs_of_one_series_at_once_make_one_study(phantom, monkeypatch):
    case = CaseFactory.create()
    jobs = [
        ingest_local_paths(case=case, paths=[phantom.series_dir], segmentation=phantom.segmentation_path, enqueue=False)
        for _ in range(2)
    ]
    both_converted = threading.Barrier(2, timeout=60)
    real_convert = runner.convert

    def convert_then_meet(**kwargs):
        result = real_convert(**kwargs)
        both_converted.wait()
        return result

    monkeypatch.setattr(runner, "convert", convert_then_meet)

    errors = run_in_threads([functools.partial(run_job, job_id=job.pk) for job in jobs])

    assert errors == []
    for job in jobs:
        job.refresh_from_db()
        assert job.status == IngestJob.Status.SUCCEEDED, job.error
    study = ImagingStudy.objects.get(case=case)  # one study, not one per job
    assert study.series_instance_uid == phantom.series_instance_uid
    structures = CaseStructure.objects.filter(case=case)
    assert structures.count() == 6
    assert {s.imaging_study_id for s in structures} == {study.pk}
    # Exactly the recorded study's files: the loser's reserved prefix was pruned, nothing else was.
    referenced = sorted(
        [
            *(
                uri.removeprefix("storage://assets/")
                for uri in [study.volume_uri, study.preview_uri, *structures.values_list("mesh_uri", flat=True)]
            ),
            # The volume's other levels (the half-resolution preview), listed in the study's metadata.
            *(
                f"cases/{case.pk}/studies/{study.pk}/{lv['file']}"
                for lv in study.metadata["levels"]
                if lv["name"] != "full"
            ),
        ]
    )
    assert stored_keys("assets") == referenced


def test_the_lock_holds_other_jobs_of_the_case_only():
    case_id, other_case_id = 101, 102
    held = threading.Event()
    release = threading.Event()
    entered: list[int] = []

    def holder() -> None:
        with case_assets_lock(case_id), case_assets_lock(case_id):  # re-entrant within a thread
            held.set()
            release.wait(timeout=30)

    def waiter(target_case: int) -> None:
        held.wait(timeout=30)
        with case_assets_lock(target_case):
            entered.append(target_case)

    threads = [
        threading.Thread(target=_closing(holder)),
        threading.Thread(target=_closing(lambda: waiter(case_id))),
        threading.Thread(target=_closing(lambda: waiter(other_case_id))),
    ]
    for thread in threads:
        thread.start()
    assert held.wait(timeout=30)
    threads[2].join(timeout=30)
    assert entered == [other_case_id]  # another case went through
    threads[1].join(timeout=0.5)
    assert threads[1].is_alive() and entered == [other_case_id]  # the same case waits
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert entered == [other_case_id, case_id]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid IN (%s, %s)",
            [ADVISORY_NAMESPACE, case_id, other_case_id],
        )
        assert cursor.fetchone()[0] == 0  # all released


def _closing(target):
    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    return run
