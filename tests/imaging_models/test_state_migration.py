"""Migration imaging 0004: the (status, stage) pairs become real states, and back on reverse.

Run with Django's migration executor on the test database: rows are written with the historical
model of each side, so the test sees exactly what a production table would hold before and after.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("imaging", "0003_study_series_unique_per_case")
AFTER = ("imaging", "0004_ingest_job_real_states")

# (status, stage) before -> (status, stage) after
ROWS = {
    ("queued", "awaiting_upload"): ("awaiting_upload", ""),
    ("queued", "retrying"): ("retrying", ""),
    ("queued", ""): ("queued", ""),
    ("running", "meshes"): ("running", "meshes"),
    ("succeeded", "done"): ("succeeded", "done"),
    ("failed", "store"): ("failed", "store"),
}


def migrate_to(target: tuple[str, str]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()  # what is applied now
    return executor


@pytest.fixture
def at_0003() -> Iterator[MigrationExecutor]:
    try:
        yield migrate_to(BEFORE)
    finally:
        migrate_to(executor_leaf())  # the schema the rest of the suite expects


def executor_leaf() -> tuple[str, str]:
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes("imaging")
    assert len(leaves) == 1
    return leaves[0]


def _pairs(executor: MigrationExecutor, state: tuple[str, str]) -> dict[str, tuple[str, str]]:
    job_model = executor.loader.project_state(state).apps.get_model("imaging", "IngestJob")
    return {job.source_key: (job.status, job.stage) for job in job_model.objects.all()}


def test_the_pairs_become_states_and_come_back_on_reverse(at_0003):
    case = CaseFactory.create()  # the cases tables are not migrated here
    old_job = at_0003.loader.project_state(BEFORE).apps.get_model("imaging", "IngestJob")
    for index, (status, stage) in enumerate(ROWS):
        old_job.objects.create(case_id=case.pk, source_key=f"job-{index}", status=status, stage=stage)

    forward = migrate_to(AFTER)
    after = _pairs(forward, AFTER)
    assert after == {f"job-{i}": new for i, new in enumerate(ROWS.values())}

    backward = migrate_to(BEFORE)
    assert _pairs(backward, BEFORE) == {f"job-{i}": old for i, old in enumerate(ROWS)}


def test_the_check_constraint_follows_the_states(at_0003):
    case = CaseFactory.create()
    old_job = at_0003.loader.project_state(BEFORE).apps.get_model("imaging", "IngestJob")
    with pytest.raises(IntegrityError), transaction.atomic():
        old_job.objects.create(case_id=case.pk, source_key="x", status="retrying")

    forward = migrate_to(AFTER)
    new_job = forward.loader.project_state(AFTER).apps.get_model("imaging", "IngestJob")
    for state in ("awaiting_upload", "retrying"):
        new_job.objects.create(case_id=case.pk, source_key=state, status=state)
    with pytest.raises(IntegrityError), transaction.atomic():
        new_job.objects.create(case_id=case.pk, source_key="y", status="paused")
