"""The search backend of a database alias: full-text on PostgreSQL, containment elsewhere (chosen once).

Callers (the API, the admin's search box, filters) go through `cases.fulltext`, which asks
`backend_for(alias)`; no caller branches on the database. The choice follows the kernel seam
`hpb.database.capabilities(alias).full_text_search` (cached per alias and process).
"""

from __future__ import annotations

from typing import Protocol

from django.db.models import QuerySet

from cases.models import Case, Document
from cases.search_containment import ContainmentSearch
from cases.search_postgresql import PostgreSQLSearch
from cases.search_types import SearchPage
from hpb.database import capabilities


class SearchBackend(Protocol):
    """How one kind of database answers the search's questions. Queries arrive cleaned (`clean_query`)."""

    # True when the backend searches an index that knows words (stemming, accents folded): the admin's
    # search box then uses it rather than the ModelAdmin's `search_fields` containment.
    indexed: bool

    def search(self, *, query: str, cases: QuerySet[Case], limit: int, offset: int, matches: bool) -> SearchPage:
        """One page of the cases of `cases` matching `query`, best first (see cases.fulltext.search)."""
        ...

    def has_terms(self, query: str, *, using: str) -> bool:
        """Whether `query` has something to look for (not only common words, operators or exclusions)."""
        ...

    def filter_cases(self, queryset: QuerySet[Case], *, query: str) -> QuerySet[Case]:
        """The cases of `queryset` whose own fields or one of whose documents match (unranked)."""
        ...

    def filter_documents(self, queryset: QuerySet[Document], *, query: str) -> QuerySet[Document]:
        """The documents of `queryset` matching `query` (unranked)."""
        ...


_FULL_TEXT = PostgreSQLSearch()
_CONTAINMENT = ContainmentSearch()


def backend_for(alias: str) -> SearchBackend:
    """The search backend of the database behind `alias`."""
    return _FULL_TEXT if capabilities(alias).full_text_search else _CONTAINMENT
