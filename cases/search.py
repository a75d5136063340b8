"""Free-text matching of cases for the list's `?q=` filter.

This is the single swap point for real search: until full-text search lands it is a
case-insensitive containment match on the title, focus and clinical summary. Replace the body of
`search_cases` (keeping its signature) and the case list follows.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from cases.models import Case


def search_cases(queryset: QuerySet[Case], *, query: str) -> QuerySet[Case]:
    """Narrow `queryset` to the cases matching `query`; a blank query leaves it unchanged."""
    query = query.strip()
    if not query:
        return queryset
    return queryset.filter(Q(title__icontains=query) | Q(focus__icontains=query) | Q(clinical_summary__icontains=query))
