"""Helpers for the search tests: cases and documents with neutral text, so only the words a test puts in
can match (the shared factories' defaults mention "liver" and "hepatectomy")."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from cases import fulltext
from cases.models import Case, Document
from tests.factories import CaseFactory, DocumentFactory


def make_case(**fields: Any) -> Case:
    defaults = {"title": "Case", "focus": "", "clinical_summary": "", "tags": []}
    return CaseFactory.create(**{**defaults, **fields})


def make_document(*cases: Case, **fields: Any) -> Document:
    defaults = {"title": "Report", "summary": "", "full_text": ""}
    return DocumentFactory.create(cases=list(cases), **{**defaults, **fields})


def search_all(
    query: str, *, cases: QuerySet[Case] | None = None, limit: int = 25, offset: int = 0
) -> fulltext.SearchPage:
    return fulltext.search(
        query=query, cases=Case.objects.all() if cases is None else cases, limit=limit, offset=offset
    )


def titles(page: fulltext.SearchPage) -> list[str]:
    return [result.case["title"] for result in page.results]
