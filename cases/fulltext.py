"""Full-text search over cases and their clinical documents.

Two backends answer (`cases.search_backends`, one per database alias, chosen once): full-text search on
PostgreSQL (`cases.search_postgresql`: the stored, weighted, GIN-indexed `search_vector` columns of
migration `cases/0002_full_text_search`), and a containment match elsewhere (`cases.search_containment`,
the SQLite demo). This module is what callers use; none of them asks which database it is.

What a search means:

- the query uses web-search syntax, parsed by PostgreSQL's `websearch_to_tsquery('hpb_english', q)`:
  words are AND-ed, `"quoted phrases"` must appear in that order, `or` between words, `-word` excludes;
  it never raises a syntax error, whatever the text;
- a case matches when its own fields (title, focus, tags, clinical summary) match the whole query, or
  when at least one of its documents does (title, summary, full text);
- rank = ts_rank_cd over the case's vector + the best matching document's ts_rank_cd, with weights that
  make one title hit (A = 1.0) worth ten body hits (C = 0.1); ties go to the newest case;
- a query that leaves nothing to look for (stop words only, operators alone, or only exclusions) never
  matches (rather than matching everything); the search then refuses it (SearchQueryError, a 400 in the
  API) with a message saying which, so a researcher is not left with a silent empty list;
- snippets come from `ts_headline` over the best document's full text, else the case's clinical summary,
  else the document's summary, whichever actually contains a hit. The source text is HTML-escaped and
  only our own `<mark>` ... `</mark>` markers are markup, so a snippet can be inserted as HTML as is.

On other databases (the SQLite demo) the same functions degrade to a case-insensitive containment match,
unranked (newest first); see README "Search". The query's validation and refusals are the same everywhere.
"""

from __future__ import annotations

from django.db.models import QuerySet

from cases.models import Case, Document
from cases.search_backends import backend_for
from cases.search_postgresql import ranked_query_sql
from cases.search_types import (
    MARK_START,
    MARK_STOP,
    MAX_QUERY_LENGTH,
    NO_WORDS,
    ONLY_EXCLUSIONS,
    MatchedDocument,
    SearchPage,
    SearchQueryError,
    SearchResult,
    clean_query,
)

__all__ = [
    "MARK_START",
    "MARK_STOP",
    "MAX_QUERY_LENGTH",
    "NO_WORDS",
    "ONLY_EXCLUSIONS",
    "MatchedDocument",
    "SearchPage",
    "SearchQueryError",
    "SearchResult",
    "clean_query",
    "filter_cases",
    "filter_documents",
    "indexed",
    "ranked_query_sql",
    "search",
]


def search(*, query: str, cases: QuerySet[Case], limit: int, offset: int = 0, matches: bool = True) -> SearchPage:
    """Search the cases of `cases` (the ones the caller may see) and their documents; one page, ranked.

    `cases` carries the visibility rules (and any other filter); its ordering, `values()` and deferred
    fields are ignored. Each result's `case` is the summary row (`cases.services.reading.SUMMARY_FIELDS`).
    With `matches=False` (the case list) the matching documents and snippets are not looked up, and the
    page is one query. Raises SearchQueryError for a query that cannot be searched (see `clean_query`).
    """
    query = clean_query(query)
    if limit <= 0 or offset < 0:
        raise ValueError("limit must be positive and offset not negative")
    return backend_for(cases.db).search(query=query, cases=cases, limit=limit, offset=offset, matches=matches)


def filter_documents(queryset: QuerySet[Document], *, query: str) -> QuerySet[Document]:
    """Documents matching `query` (unranked; for the admin)."""
    return backend_for(queryset.db).filter_documents(queryset, query=clean_query(query))


def filter_cases(queryset: QuerySet[Case], *, query: str) -> QuerySet[Case]:
    """Cases whose own fields or one of whose documents match `query` (unranked; for the admin)."""
    return backend_for(queryset.db).filter_cases(queryset, query=clean_query(query))


def indexed(using: str) -> bool:
    """Whether the search of `using` knows words (full-text), rather than matching substrings."""
    return backend_for(using).indexed
