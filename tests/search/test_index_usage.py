"""EXPLAIN proves the search reads the GIN indexes, with the planner left to its own judgement.

No `SET enable_seqscan = off`: the test loads enough rows (4,000 documents of ~60 words, 800 cases) and
runs ANALYZE, so an index scan is what the planner honestly prefers for a selective term. For a term in
most rows a sequential scan is cheaper and PostgreSQL rightly picks it; that is not what this test is about.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import pytest
from django.db import connection

from cases import fulltext
from cases.models import Case, Document
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

VOCABULARY = [
    "liver",
    "segment",
    "portal",
    "vein",
    "hepatic",
    "artery",
    "bile",
    "duct",
    "pancreas",
    "tumour",
    "lesion",
    "resection",
    "margin",
    "biopsy",
    "metastasis",
    "cirrhosis",
    "steatosis",
    "fibrosis",
    "jaundice",
    "stent",
    "drainage",
    "anastomosis",
    "cholangitis",
    "embolisation",
    "volume",
    "remnant",
    "phase",
    "contrast",
    "enhancement",
    "washout",
    "capsule",
    "nodule",
    "cyst",
    "duct",
    "dilatation",
    "stricture",
]
DOCUMENTS = 4000
CASES = 800


@pytest.fixture
def corpus() -> None:
    rng = random.Random(5)
    patient = PatientFactory.create()
    cases = Case.objects.bulk_create(
        Case(patient=patient, slug=f"c{n}", title=f"Case {n} {rng.choice(VOCABULARY)}", status="published")
        for n in range(CASES)
    )
    documents = []
    for n in range(DOCUMENTS):
        words = [rng.choice(VOCABULARY) for _ in range(60)]
        if n % 997 == 0:
            words[30] = "Mirizzi"  # a rare term: 5 documents of 4,000
        documents.append(
            Document(
                slug=f"d{n}",
                title=f"Report {n}",
                storage_uri=f"storage://documents/d{n}.txt",
                full_text=" ".join(words),
            )
        )
    documents = Document.objects.bulk_create(documents)
    Document.cases.through.objects.bulk_create(
        Document.cases.through(document_id=document.pk, case_id=cases[n % CASES].pk)
        for n, document in enumerate(documents)
    )
    with connection.cursor() as cursor:
        # New GIN entries first go to the index's pending list (fastupdate), which every search must read
        # in full, so the planner rightly shuns the index until (auto)vacuum merges the list into the tree.
        # VACUUM cannot run in the test's transaction; gin_clean_pending_list does that same merge.
        cursor.execute("SELECT gin_clean_pending_list('cases_document_search_gin')")
        cursor.execute("SELECT gin_clean_pending_list('cases_case_search_gin')")
        cursor.execute("ANALYZE cases_document; ANALYZE cases_case; ANALYZE cases_document_cases")


def scans(sql: str, params: Sequence[Any]) -> set[tuple[str, str]]:
    """(node type, relation or index name) of every scan in the plan of `sql`."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    found: set[tuple[str, str]] = set()
    pending = [plan[0]["Plan"]]
    while pending:
        node = pending.pop()
        name = node.get("Index Name") or node.get("Relation Name")
        if name:
            found.add((node["Node Type"], name))
        pending.extend(node.get("Plans", []))
    return found


def test_the_ranked_search_uses_both_gin_indexes_for_a_selective_term(corpus):
    assert Document.objects.count() == DOCUMENTS  # the row count the planner's choice rests on

    sql, params = fulltext.ranked_query_sql(
        query="mirizzi", cases=Case.objects.filter(status="published"), limit=25, offset=0
    )
    found = scans(sql, params)

    assert ("Bitmap Index Scan", "cases_document_search_gin") in found
    assert ("Bitmap Index Scan", "cases_case_search_gin") in found
    assert ("Seq Scan", "cases_document") not in found
    page = fulltext.search(query="mirizzi", cases=Case.objects.all(), limit=25)
    assert page.total == 5


def test_the_admin_document_filter_uses_the_gin_index(corpus):
    queryset = fulltext.filter_documents(Document.objects.all(), query='"mirizzi"')
    sql, params = queryset.query.sql_with_params()

    found = scans(sql, params)

    assert ("Bitmap Index Scan", "cases_document_search_gin") in found
    assert ("Seq Scan", "cases_document") not in found
    assert queryset.count() == 5
