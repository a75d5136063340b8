"""The admin search box of cases and documents: full-text search where the database has it, icontains elsewhere.

With full-text search (PostgreSQL) a search term finds the rows that the full-text search finds
(web-search syntax, stemming, accents folded; for cases also through their documents' text, see
`cases.fulltext`) OR whose identifier fields contain it (`identifier_search_fields`, case-insensitive
containment: slugs and MRNs are not words, and a title fragment typed in an autocomplete box, "hepatec",
must still find "hepatectomy"). That replaces `ILIKE '%...%'` over clinical summaries and extracted
document text, which reads every row and knows no word forms. Where the search is containment itself
(the SQLite demo: `fulltext.indexed()` is False) the ModelAdmin's own `search_fields` apply unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.text import smart_split, unescape_string_literal

from cases import fulltext


class FullTextSearchMixin(admin.ModelAdmin):
    """For a ModelAdmin: `get_search_results` through `full_text_filter` where the search is full-text.

    Set `full_text_filter = staticmethod(fulltext.filter_cases)` (or `filter_documents`) and the
    `identifier_search_fields` searched by containment beside it.
    """

    identifier_search_fields: tuple[str, ...] = ()
    full_text_filter: Callable[..., QuerySet]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        search_term = search_term.replace("\x00", "")  # PostgreSQL text cannot hold NUL
        if not search_term.strip() or not fulltext.indexed(queryset.db):
            return super().get_search_results(request, queryset, search_term)
        everything = queryset.model._default_manager.using(queryset.db).all()
        matches = Q(pk__in=_icontains_all_terms(everything, self.identifier_search_fields, search_term).values("pk"))
        try:
            text_hits = self.full_text_filter(everything, query=search_term)
        except fulltext.SearchQueryError as error:
            self.message_user(request, f"Full-text search skipped: {error}", messages.WARNING)
        else:
            matches |= Q(pk__in=text_hits.values("pk"))
        return queryset.filter(matches), False


def _icontains_all_terms(queryset: QuerySet, fields: tuple[str, ...], search_term: str) -> QuerySet:
    """Django's admin search over `fields`: every term (or "quoted phrase") contained in one of them."""
    if not fields:
        return queryset.none()
    condition = Q()
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and len(bit) > 1 and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        any_field = Q()
        for field in fields:
            any_field |= Q(**{f"{field}__icontains": bit})
        condition &= any_field
    return queryset.filter(condition)
