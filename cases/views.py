"""Read-only case endpoints of API v1: the list, the detail and the search. Thin: the rows come from services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.db import router
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from cases import filters, fulltext
from cases.filters import CaseFilter, CaseFilterBackend
from cases.models import Case
from cases.serializers import CaseDetailSerializer, CaseSummarySerializer, SearchResultSerializer
from cases.services import access, reading
from hpb import flags
from hpb.api.pagination import HeaderLimitOffsetPagination, pagination_headers
from hpb.api.views import LIGHTWEIGHT_PARAMETER
from imaging.services import bundles


class CaseViewMixin(GenericAPIView):
    """The cases this request may see, the lightweight flag for the serializers, the header paginator."""

    def visible_cases(self) -> QuerySet[Case]:
        return access.visible_cases(user=self.request.user, lightweight=flags.lightweight_mode(self.request))

    def visibility_filters(self) -> dict[str, Any]:
        """The same rule as `visible_cases`, as Case field equalities (for the hand-written statements)."""
        return access.visibility_filters(user=self.request.user, lightweight=flags.lightweight_mode(self.request))

    def get_serializer_context(self) -> dict[str, Any]:
        return {"request": self.request, "view": self, "lightweight": flags.lightweight_mode(self.request)}

    @property
    def header_paginator(self) -> HeaderLimitOffsetPagination:
        """`paginator`, as the HeaderLimitOffsetPagination every case endpoint declares."""
        return cast(HeaderLimitOffsetPagination, self.paginator)


SEARCH_PARAM = "q"
_SYNTAX = (
    'Web-search syntax: words (all must match), "quoted phrases", `or` between alternatives, -word to exclude. '
    "Stemmed English, accents and case ignored. At most 500 characters; empty or blank is a 400, and so is a "
    "query with nothing to look for (only common words such as `the`, or only -exclusions)."
)


def search_parameter(*, required: bool) -> OpenApiParameter:
    return OpenApiParameter(
        SEARCH_PARAM,
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        required=required,
        description=(
            (
                "Full-text search over the case and its documents. "
                if required
                else "Full-text search: when given, only matching cases, best match first (see /api/v1/search). "
            )
            + _SYNTAX
        ),
    )


def search_query(request: Request) -> str:
    """The request's `q`, cleaned, or a 400 saying what is wrong with it."""
    try:
        return fulltext.clean_query(request.query_params.get(SEARCH_PARAM))
    except fulltext.SearchQueryError as error:
        raise ValidationError({SEARCH_PARAM: [str(error)]}) from None


INCLUDES = ("manifest",)
INCLUDE_PARAMETER = OpenApiParameter(
    "include",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    enum=list(INCLUDES),
    description=(
        "`manifest`: each summary also carries `manifest`, the case's viewer manifest with signed URLs "
        "(as GET /api/v1/cases/{id}/manifest), or null when the case has no published bundle."
    ),
)


def _includes(request: Request) -> bool:
    """Whether the list is asked for manifests; an unknown `include` is a 400 naming the accepted ones."""
    values = [v.strip() for raw in request.query_params.getlist("include") for v in raw.split(",") if v.strip()]
    unknown = sorted(set(values) - set(INCLUDES))
    if unknown:
        raise ValidationError({"include": [f"Unknown include {', '.join(unknown)}; accepted: {', '.join(INCLUDES)}."]})
    return "manifest" in values


@extend_schema(tags=["cases"])
class CaseListView(CaseViewMixin, ListAPIView):
    """Case summaries as a JSON array, newest first or, with `q`, best match first; paging in headers."""

    serializer_class = CaseSummarySerializer
    pagination_class = HeaderLimitOffsetPagination
    filter_backends = [CaseFilterBackend]
    filterset_class = CaseFilter
    queryset = Case.objects.none()  # for schema introspection; the real one is get_queryset's

    def get_queryset(self) -> QuerySet:
        return reading.case_summaries(self.visible_cases())

    @extend_schema(
        parameters=[search_parameter(required=False), INCLUDE_PARAMETER, LIGHTWEIGHT_PARAMETER, *pagination_headers()]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_paginated_response(self, data: Any) -> Response:
        """With `include=manifest`, each summary also carries its viewer manifest (one more query a page)."""
        if _includes(self.request) and data:
            lightweight = flags.lightweight_mode(self.request)
            found = bundles.published_manifests(
                case_ids=[row["id"] for row in data], request=self.request, lightweight=lightweight
            )
            data = [{**row, "manifest": found.get(row["id"])} for row in data]
        return super().get_paginated_response(data)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if SEARCH_PARAM not in request.query_params:
            if filters.is_filtered(request):
                return super().list(request, *args, **kwargs)
            return self._unfiltered_list(request, using=router.db_for_read(Case))
        # The same search as /api/v1/search over the same filtered cases (specialty, tag, status,
        # visibility), ranked; only the summaries are needed, so the page is one query.
        query = search_query(request)
        cases = self.filter_queryset(self.visible_cases())
        page = self.header_paginator.paginate_fetched(request, _fetcher(query=query, cases=cases, matches=False))
        rows = [result.case for result in page]
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    def _unfiltered_list(self, request: Request, *, using: str) -> Response:
        """The unfiltered list (most requests): default specialty and visibility only, so the total can come
        from the trigger-maintained counter and the page from a once-written statement (one query)."""
        rule = {**filters.default_filters(), **self.visibility_filters()}

        def fetch(limit: int, offset: int) -> tuple[int, list[dict]]:
            return reading.case_list_page(filters=rule, limit=limit, offset=offset, using=using)

        page = self.header_paginator.paginate_fetched(request, fetch)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def _fetcher(
    *, query: str, cases: QuerySet[Case], matches: bool
) -> Callable[[int, int], tuple[int, list[fulltext.SearchResult]]]:
    def fetch(limit: int, offset: int) -> tuple[int, list[fulltext.SearchResult]]:
        try:
            found = fulltext.search(query=query, cases=cases, limit=limit, offset=offset, matches=matches)
        except fulltext.SearchQueryError as error:  # e.g. nothing to look for (only -exclusions)
            raise ValidationError({SEARCH_PARAM: [str(error)]}) from None
        return found.total, found.results

    return fetch


@extend_schema(tags=["cases"])
class SearchView(CaseViewMixin):
    """Cases whose own text or documents match `q`, best first, with the matching documents and a snippet.

    Only cases the user may see (published ones for non-staff; lightweight ones in lightweight mode), of
    every specialty. A JSON array paged like the case list (`limit`, `offset`, `X-Total-Count`, `Link`).
    """

    serializer_class = SearchResultSerializer
    pagination_class = HeaderLimitOffsetPagination
    queryset = Case.objects.none()  # for schema introspection

    @extend_schema(
        operation_id="search",
        parameters=[search_parameter(required=True), LIGHTWEIGHT_PARAMETER, *pagination_headers()],
        responses={200: SearchResultSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        query = search_query(request)
        fetch = _fetcher(query=query, cases=self.visible_cases(), matches=True)
        page = self.header_paginator.paginate_fetched(request, fetch)
        rows = [
            {
                "case": result.case,
                "rank": result.rank,
                "documents": [{"id": d.id, "title": d.title} for d in result.documents],
                "snippet": result.snippet,
            }
            for result in page
        ]
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)


@extend_schema(tags=["cases"])
class CaseDetailView(CaseViewMixin):
    """One case with its patient, documents, imaging studies and structures; file URLs are signed."""

    serializer_class = CaseDetailSerializer
    queryset = Case.objects.none()  # for schema introspection

    @extend_schema(parameters=[LIGHTWEIGHT_PARAMETER])
    def get(self, request: Request, case_id: int) -> Response:
        row = reading.case_detail(filters=self.visibility_filters(), case_id=case_id, using=router.db_for_read(Case))
        if row is None:
            raise Http404
        return Response(self.get_serializer(row).data)
