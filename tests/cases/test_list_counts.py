"""The trigger-maintained case counter (cases migration 0003) stays exact whatever writes the cases.

After every kind of write the counter's groups are compared with a real GROUP BY over cases_case:
ORM saves, queryset updates and deletes, bulk_create, raw SQL (INSERT, UPDATE, DELETE, upserts,
TRUNCATE), rolled-back transactions and savepoints, and concurrent transactions.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.models import Case as SQLCase
from django.db.models import Value, When

from cases.models import Case
from cases.services import list_counts
from tests.factories import CaseFactory, PatientFactory

pytestmark = pytest.mark.django_db

GROUP = "specialty, status, lightweight"


class AbortError(Exception):
    """Raised to roll a transaction back."""


def _rows(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _run(sql: str, params: Sequence[Any] = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def counted() -> dict[tuple, int]:
    """The counter's non-empty groups (groups emptied by deletes stay as zero rows)."""
    rows = _rows(f"SELECT {GROUP}, total FROM cases_case_list_count")  # noqa: S608
    assert all(total >= 0 for *_, total in rows), rows
    return {tuple(key): total for *key, total in rows if total}


def real() -> dict[tuple, int]:
    return {tuple(key): n for *key, n in _rows(f"SELECT {GROUP}, count(*) FROM cases_case GROUP BY {GROUP}")}  # noqa: S608


def assert_exact() -> dict[tuple, int]:
    assert counted() == real()
    return real()


def test_migration_counts_what_is_there_and_tracks_creation():
    assert connection.vendor == "postgresql"
    assert counted() == real() == {}
    CaseFactory.create()
    CaseFactory.create(status=Case.Status.DRAFT, lightweight=True)
    CaseFactory.create(specialty="Transplant")
    assert assert_exact() == {
        ("HPB", "published", False): 1,
        ("HPB", "draft", True): 1,
        ("Transplant", "published", False): 1,
    }


def test_updates_move_cases_between_groups():
    case = CaseFactory.create()
    case.status = Case.Status.ARCHIVED
    case.save()
    assert assert_exact() == {("HPB", "archived", False): 1}
    case.specialty = "Transplant"
    case.lightweight = True
    case.save(update_fields=["specialty", "lightweight"])
    assert assert_exact() == {("Transplant", "archived", True): 1}

    CaseFactory.create_batch(5, status=Case.Status.DRAFT)
    assert Case.objects.filter(status=Case.Status.DRAFT).update(status=Case.Status.PUBLISHED, lightweight=True) == 5
    assert assert_exact() == {("Transplant", "archived", True): 1, ("HPB", "published", True): 5}
    # One statement moving rows out of and into the same groups (every lightweight flag flipped).
    Case.objects.update(lightweight=SQLCase(When(lightweight=True, then=Value(False)), default=Value(True)))
    assert assert_exact() == {("Transplant", "archived", False): 1, ("HPB", "published", False): 5}


def test_updates_that_keep_the_group_never_write_the_counter():
    case = CaseFactory.create()
    before = _rows("SELECT xmin::text, total FROM cases_case_list_count")
    case.title = "A new title"
    case.tags = ["edited"]
    case.save()
    Case.objects.filter(pk=case.pk).update(status=Case.Status.PUBLISHED)  # same value: no move
    assert _rows("SELECT xmin::text, total FROM cases_case_list_count") == before


def test_deletes():
    keep, *gone = CaseFactory.create_batch(4)
    gone[0].delete()
    assert assert_exact() == {("HPB", "published", False): 3}
    Case.objects.exclude(pk=keep.pk).delete()
    assert assert_exact() == {("HPB", "published", False): 1}


def test_bulk_create_counts_every_row_once_per_statement():
    patients = PatientFactory.create_batch(3)
    Case.objects.bulk_create(
        [
            Case(patient=patients[i % 3], slug=f"bulk-{i}", title=f"Bulk {i}", status=status, lightweight=i % 2 == 0)
            for i, status in enumerate([Case.Status.PUBLISHED] * 150 + [Case.Status.DRAFT] * 50)
        ],
        batch_size=64,
    )
    assert assert_exact() == {
        ("HPB", "published", True): 75,
        ("HPB", "published", False): 75,
        ("HPB", "draft", True): 25,
        ("HPB", "draft", False): 25,
    }


def test_raw_sql_writes():
    patient = PatientFactory.create()
    insert = (
        "INSERT INTO cases_case (patient_id, slug, title, focus, specialty, clinical_summary, tags, status, "
        "lightweight, created_at, updated_at) "
        "SELECT %s, %s || n, 'Raw ' || n, '', %s, '', '[]', %s, %s, now(), now() FROM generate_series(1, %s) n"
    )
    _run(insert, [patient.pk, "raw-", "HPB", "draft", False, 7])
    _run(insert, [patient.pk, "raw-onc-", "Oncology", "published", True, 3])
    assert_exact()
    _run("UPDATE cases_case SET status = 'published' WHERE slug IN ('raw-1', 'raw-2')")
    _run("UPDATE cases_case SET specialty = 'HPB' WHERE specialty = 'Oncology'")
    assert_exact()
    # An upsert: one conflicting row is updated (moving group), one new row is inserted.
    _run(
        "INSERT INTO cases_case (patient_id, slug, title, focus, specialty, clinical_summary, tags, status, "
        "lightweight, created_at, updated_at) VALUES "
        "(%s, 'raw-3', 'Raw 3', '', 'HPB', '', '[]', 'draft', false, now(), now()), "
        "(%s, 'raw-new', 'New', '', 'HPB', '', '[]', 'draft', false, now(), now()) "
        "ON CONFLICT (patient_id, slug) DO UPDATE SET status = 'archived'",
        [patient.pk, patient.pk],
    )
    assert_exact()
    _run("DELETE FROM cases_case WHERE slug LIKE 'raw-%%' AND status = 'draft'")
    assert_exact()
    assert sum(real().values()) == 6


def test_truncate_empties_the_counter():
    CaseFactory.create_batch(3)
    # The test's transaction has deferred foreign key checks pending; TRUNCATE needs them done.
    _run("SET CONSTRAINTS ALL IMMEDIATE")
    _run("TRUNCATE cases_case CASCADE")
    assert counted() == real() == {}
    CaseFactory.create()
    assert assert_exact() == {("HPB", "published", False): 1}


def test_rolled_back_transactions_and_savepoints_leave_no_trace():
    CaseFactory.create()
    before = assert_exact()
    inside: list[bool] = []

    def write_then_fail() -> None:
        with transaction.atomic():
            CaseFactory.create_batch(3, status=Case.Status.DRAFT)
            Case.objects.update(lightweight=True)
            inside.append(counted() == real())  # inside the transaction the counter follows its writes
            raise AbortError

    with pytest.raises(AbortError):
        write_then_fail()
    assert inside == [True]
    assert assert_exact() == before

    def delete_then_fail() -> None:
        with transaction.atomic():  # a savepoint
            Case.objects.all().delete()
            raise AbortError

    with transaction.atomic():
        CaseFactory.create(specialty="Transplant")
        with pytest.raises(AbortError):
            delete_then_fail()
    assert assert_exact() == {**before, ("Transplant", "published", False): 1}


def test_list_counts_total_and_rebuild():
    CaseFactory.create_batch(2)
    CaseFactory.create(status=Case.Status.DRAFT, lightweight=True)
    CaseFactory.create(specialty="Transplant", lightweight=True)
    assert list_counts.total(filters={}, using="default") == 4
    assert list_counts.total(filters={"specialty": "HPB"}, using="default") == 3
    assert list_counts.total(filters={"specialty": "HPB", "status": "published"}, using="default") == 2
    assert list_counts.total(filters={"lightweight": True}, using="default") == 2
    assert list_counts.total(filters={"specialty": "None"}, using="default") == 0
    with pytest.raises(list_counts.NotCountedError):
        list_counts.total(filters={"tags": ["liver"]}, using="default")

    # Something bypassed the triggers (a data-only restore with --disable-triggers, say): rebuild.
    _run("UPDATE cases_case_list_count SET total = total + 40")
    assert counted() != real()
    call_command("rebuild_case_list_counts", verbosity=0)
    assert_exact()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_serialize_on_the_counter_and_stay_exact():
    """Several transactions insert and re-classify cases of the same groups at the same time."""
    patients = PatientFactory.create_batch(4)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        try:
            start.wait(timeout=10)
            for i in range(10):
                with transaction.atomic():
                    case = Case.objects.create(patient=patients[n], slug=f"w{n}-{i}", title="c", status="draft")
                    if i % 3 == 0:
                        Case.objects.filter(pk=case.pk).update(status="published", lightweight=True)
                    if i % 5 == 0:
                        case.delete()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    # Per writer: 10 created, 4 published (i = 0, 3, 6, 9), 2 deleted (i = 0, 5): 5 drafts, 3 published.
    assert assert_exact() == {("HPB", "draft", False): 4 * 5, ("HPB", "published", True): 4 * 3}


@pytest.mark.django_db(transaction=True)
def test_other_transactions_see_the_new_total_exactly_when_they_see_the_new_rows():
    CaseFactory.create()
    writer_ready, reader_done, writer_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with transaction.atomic():
                CaseFactory.create_batch(2)
                writer_ready.set()
                assert reader_done.wait(timeout=10)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            writer_done.set()
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    assert writer_ready.wait(timeout=10)
    # Uncommitted: neither the rows nor the count are visible here (the writer holds the counter row).
    assert list_counts.total(filters={"specialty": "HPB"}, using="default") == 1
    assert Case.objects.count() == 1
    reader_done.set()
    assert writer_done.wait(timeout=10)
    thread.join(timeout=10)
    assert not errors, errors
    assert list_counts.total(filters={"specialty": "HPB"}, using="default") == Case.objects.count() == 3


def _counter_exists() -> bool:
    return _rows("SELECT to_regclass('cases_case_list_count') IS NOT NULL")[0][0]


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_cases_already_there_and_unapplies_cleanly():
    CaseFactory.create_batch(3)
    try:
        call_command("migrate", "cases", "0002", verbosity=0)
        assert not _counter_exists()
        assert _rows("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cases_case_list_count%%'") == [(0,)]
        CaseFactory.create(status=Case.Status.DRAFT)  # written while no trigger counts
    finally:
        call_command("migrate", "cases", verbosity=0)
    assert _counter_exists()
    assert assert_exact() == {("HPB", "published", False): 3, ("HPB", "draft", False): 1}
