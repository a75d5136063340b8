"""Search without a full-text index (the SQLite demo): case-insensitive containment, unranked, newest first.

The same query syntax in spirit (see cases.fulltext): every word or `"quoted phrase"` must be contained
in the case's own fields or in one of its documents, `-term` excludes, `or` is ignored. No stemming, no
ranking (rank 0.0); the snippet is an escaped window of the first text with a hit, every term in <mark>.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from django.db.models import Q, QuerySet

from cases.models import Case, Document
from cases.search_types import MARK_START, MARK_STOP, MatchedDocument, SearchPage, SearchResult
from cases.services.reading import SUMMARY_FIELDS

_WHITESPACE = re.compile(r"\s+")


class ContainmentSearch:
    """icontains over the case's and its documents' text fields; unranked (newest first)."""

    # The admin's own search_fields are containment too, and as good: it keeps them.
    indexed = False

    def search(self, *, query: str, cases: QuerySet[Case], limit: int, offset: int, matches: bool) -> SearchPage:
        return _search(query=query, cases=cases, limit=limit, offset=offset, matches=matches)

    def has_terms(self, query: str, *, using: str) -> bool:
        return bool(parse_containment_terms(query)[0])

    def filter_cases(self, queryset: QuerySet[Case], *, query: str) -> QuerySet[Case]:
        return _filter_cases(queryset, query)

    def filter_documents(self, queryset: QuerySet[Document], *, query: str) -> QuerySet[Document]:
        return _filter_documents(queryset, query)


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_EXCERPT_CHARS = 240


def parse_containment_terms(query: str) -> tuple[list[str], list[str]]:
    """(wanted, excluded) strings for the fallback: `"phrases"` whole, `-term` excluded, `or` ignored."""
    wanted: list[str] = []
    excluded: list[str] = []
    for match in _TOKEN.finditer(query):
        negated, phrase, word = match.groups()
        if word is not None:
            negated = "-" if word.startswith("-") else ""
            term = word.lstrip("-")
            if term.lower() == "or":
                continue
        else:
            term = phrase
        term = " ".join(term.split())
        if term:
            (excluded if negated else wanted).append(term)
    return wanted, excluded


def _containment_case_q(term: str) -> Q:
    documents = Document.objects.filter(_containment_document_q(term)).values("cases")
    return (
        Q(title__icontains=term)
        | Q(focus__icontains=term)
        | Q(clinical_summary__icontains=term)
        | Q(tags__icontains=term)
        | Q(pk__in=documents)
    )


def _containment_document_q(term: str) -> Q:
    return Q(title__icontains=term) | Q(summary__icontains=term) | Q(full_text__icontains=term)


def _filter_cases(queryset: QuerySet[Case], query: str) -> QuerySet[Case]:
    wanted, excluded = parse_containment_terms(query)
    if not wanted:
        return queryset.none()
    for term in wanted:
        queryset = queryset.filter(_containment_case_q(term))
    for term in excluded:
        queryset = queryset.exclude(_containment_case_q(term))
    return queryset


def _filter_documents(queryset: QuerySet[Document], query: str) -> QuerySet[Document]:
    wanted, excluded = parse_containment_terms(query)
    if not wanted:
        return queryset.none()
    for term in wanted:
        queryset = queryset.filter(_containment_document_q(term))
    for term in excluded:
        queryset = queryset.exclude(_containment_document_q(term))
    return queryset


def _search(*, query: str, cases: QuerySet[Case], limit: int, offset: int, matches: bool) -> SearchPage:
    wanted, _excluded = parse_containment_terms(query)
    base = Case.objects.using(cases.db).filter(pk__in=cases.order_by().values("pk"))
    matching = _filter_cases(base, query)
    total = matching.count()
    page = list(
        matching.order_by("-created_at", "-id").values(*SUMMARY_FIELDS, "clinical_summary")[offset : offset + limit]
    )
    if not page or not matches:
        return SearchPage(
            total=total,
            results=[
                SearchResult(case={f: row[f] for f in SUMMARY_FIELDS}, rank=0.0, documents=(), snippet="")
                for row in page
            ],
        )
    any_term = Q()
    for term in wanted:
        any_term |= _containment_document_q(term)
    documents: dict[int, list[Mapping[str, Any]]] = {}
    rows = (
        Document.objects.using(cases.db)
        .filter(any_term, cases__in=[row["id"] for row in page])
        .order_by("-created_at", "-id")
        .values("id", "title", "summary", "full_text", "cases")
    )
    for row in rows:
        documents.setdefault(row["cases"], []).append(row)
    results = []
    for row in page:
        found = documents.get(row["id"], [])
        texts = [found[0]["full_text"]] if found else []
        texts.append(row["clinical_summary"])
        if found:
            texts.append(found[0]["summary"])
        results.append(
            SearchResult(
                case={f: row[f] for f in SUMMARY_FIELDS},
                rank=0.0,
                documents=tuple(MatchedDocument(id=d["id"], title=d["title"]) for d in found),
                snippet=_containment_excerpt(texts, wanted),
            )
        )
    return SearchPage(total=total, results=results)


def _containment_excerpt(texts: list[str], terms: list[str]) -> str:
    """An escaped window of the first text containing a term, with every term wrapped in <mark>."""
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    for text in texts:
        match = pattern.search(text or "")
        if match:
            break
    else:
        text = next((t for t in texts if t), "")
        match = None
    start = max(0, match.start() - _EXCERPT_CHARS // 3) if match else 0
    end = min(len(text), start + _EXCERPT_CHARS)
    window = text[start:end]
    parts = ["… " if start else ""]
    last = 0
    for hit in pattern.finditer(window):
        parts.append(html.escape(window[last : hit.start()]))
        parts.append(f"{MARK_START}{html.escape(hit.group())}{MARK_STOP}")
        last = hit.end()
    parts.append(html.escape(window[last:]))
    parts.append(" …" if end < len(text) else "")
    return _WHITESPACE.sub(" ", "".join(parts)).strip()
