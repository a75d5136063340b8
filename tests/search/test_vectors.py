"""The database keeps the stored vectors current, whoever writes: the ORM, a bulk update or raw SQL."""

from __future__ import annotations

import pytest
from django.db import connection

from cases.models import Case, Document
from tests.search.helpers import make_case, make_document, search_all, titles

pytestmark = pytest.mark.django_db


def stored_vector(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT search_vector::text FROM {table} WHERE id = %s", [pk])  # noqa: S608 - test tables
        return cursor.fetchone()[0]


def test_document_vector_is_weighted_title_a_summary_b_full_text_c():
    document = make_document(make_case(), title="Hepatectomy", summary="Caudate", full_text="Embolisation")

    vector = stored_vector("cases_document", document.pk)

    assert "'hepatectomi':1A" in vector
    assert "'caudat':2B" in vector
    assert "'embolis':3C" in vector  # english_stem: embolisation -> embolis


def test_case_vector_covers_title_focus_tags_and_summary():
    case = make_case(title="Klatskin", focus="Trisectionectomy", tags=["hilar"], clinical_summary="Jaundice")

    vector = stored_vector("cases_case", case.pk)

    assert "'klatskin':1A" in vector
    assert "'trisectionectomi':2B" in vector
    assert "'hilar':3B" in vector
    assert "'jaundic':4C" in vector


def test_orm_save_updates_the_vector():
    case = make_case(title="A")
    document = make_document(case, full_text="Right hepatectomy.")
    assert titles(search_all("caudate")) == []

    document.full_text = "Isolated caudate lobe resection."
    document.save()

    assert titles(search_all("caudate")) == ["A"]
    assert titles(search_all("hepatectomy")) == []


def test_queryset_update_updates_the_vector():
    case = make_case(title="A")
    document = make_document(case, full_text="Right hepatectomy.")

    Document.objects.filter(pk=document.pk).update(full_text="Whipple procedure.")

    assert titles(search_all("whipple")) == ["A"]


def test_raw_sql_update_updates_the_vector():
    case = make_case(title="A")
    document = make_document(case, full_text="Right hepatectomy.")

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cases_document SET full_text = %s WHERE id = %s", ["Portal vein embolisation.", document.pk]
        )
        cursor.execute("UPDATE cases_case SET tags = %s::jsonb WHERE id = %s", ['["ipmn"]', case.pk])

    assert titles(search_all('"portal vein"')) == ["A"]
    assert titles(search_all("ipmn")) == ["A"]
    assert titles(search_all("hepatectomy")) == []


def test_raw_sql_insert_gets_a_vector():
    case = make_case(title="A")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO cases_document (slug, title, summary, mime_type, storage_uri, metadata, full_text, created_at)"
            " VALUES ('raw', 'Raw', '', 'text/plain', 'storage://documents/raw.txt', '{}', 'Mirizzi syndrome', now())"
            " RETURNING id"
        )
        document_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO cases_document_cases (document_id, case_id) VALUES (%s, %s)", [document_id, case.pk]
        )

    assert titles(search_all("mirizzi")) == ["A"]


def test_case_edits_update_the_case_vector():
    case = make_case(title="Hilar lesion")
    case.title = "Gallbladder carcinoma"
    case.tags = ["T2"]
    case.save()

    assert titles(search_all("gallbladder")) == ["Gallbladder carcinoma"]
    assert titles(search_all("t2")) == ["Gallbladder carcinoma"]
    assert titles(search_all("hilar")) == []


def test_vectors_cannot_be_written_directly():
    case = make_case()
    from django.db import DataError, ProgrammingError, transaction

    with pytest.raises((ProgrammingError, DataError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE cases_case SET search_vector = 'x'::tsvector WHERE id = %s", [case.pk])


def test_a_pathologically_long_text_still_saves():
    """A tsvector cannot exceed 1 MB; the index reads a capped prefix, so the save never fails."""
    words = " ".join(f"w{number:x}zq{number * 7919 % 100003:x}" for number in range(120_000))  # ~1.6 MB, unique
    case = make_case(title="A")
    document = make_document(case, full_text="Mirizzi syndrome. " + words)

    assert titles(search_all("mirizzi")) == ["A"]
    assert Document.objects.get(pk=document.pk).full_text.endswith(words[-20:])
    assert Case.objects.count() == 1
