"""Limit/offset paging whose body stays a plain JSON array.

DESIGN.md fixes the list bodies as arrays, so the paging travels in headers: `X-Total-Count` and an
RFC 8288 `Link` header with `first`, `prev`, `next` and `last`. A page and its total cost one query
(the count is a scalar subquery of the page's query); an offset past the end costs a second one.
Querysets must be plain filtered querysets (no DISTINCT or GROUP BY), which is what the API lists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.db.models import Func, IntegerField, QuerySet, Subquery
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
TOTAL_COUNT_HEADER = "X-Total-Count"


_TOTAL = "_hpb_total"


def _pop_total(page: list) -> int:
    """Read the total from the first row and remove it from every row (dicts or model instances)."""
    key = _TOTAL + "_page"
    first = page[0]
    total = first[key] if isinstance(first, dict) else getattr(first, key)
    for row in page:
        if isinstance(row, dict):
            del row[key]
        else:
            delattr(row, key)
    return int(total)


def _read_int(request: Request, name: str, *, default: int, minimum: int, maximum: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"Expected an integer, got {raw[:40]!r}."]}) from None
    if value < minimum:
        raise ValidationError({name: [f"Must be at least {minimum}."]})
    if maximum is not None and value > maximum:
        raise ValidationError({name: [f"Must be at most {maximum}; page through larger results with offset."]})
    return value


class HeaderLimitOffsetPagination(BasePagination):
    """`?limit=` (default 25, 1..100) and `?offset=` (>= 0); the page is the body, the rest headers."""

    limit_query_param = "limit"
    offset_query_param = "offset"
    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def read_page_parameters(self, request: Request) -> tuple[int, int]:
        """`(limit, offset)` of the request, validated (a 400 when unusable)."""
        self.request = request
        self.limit = _read_int(
            request, self.limit_query_param, default=self.default_limit, minimum=1, maximum=self.max_limit
        )
        # Bounded so the SQL OFFSET always fits a bigint; anything that large is past the end anyway.
        self.offset = _read_int(request, self.offset_query_param, default=0, minimum=0, maximum=2**62)
        return self.limit, self.offset

    def paginate_fetched(self, request: Request, fetch: Callable[[int, int], tuple[int, list]]) -> list:
        """Page through a source that answers `(total, rows)` for `(limit, offset)` itself (the search).

        The same parameters, validation and headers as `paginate_queryset`, for results that are not a
        queryset (a ranked search computes its page and total in its own query).
        """
        limit, offset = self.read_page_parameters(request)
        self.count, page = fetch(limit, offset)
        return page

    def paginate_queryset(
        self, queryset: QuerySet[Any, Any] | Sequence[Any], request: Request, view: Any = None
    ) -> list:
        if not isinstance(queryset, QuerySet):
            raise TypeError("HeaderLimitOffsetPagination pages querysets; give anything else to paginate_fetched.")
        self.read_page_parameters(request)
        # The total rides along with the page as an uncorrelated scalar subquery, so a page is one
        # round trip to the database instead of two. Only an empty page needs its own count.
        # COUNT(*) rather than COUNT(id): PostgreSQL can then answer from the list index alone.
        count_all = Func(template="COUNT(*)", output_field=IntegerField())
        total = Subquery(queryset.order_by().annotate(**{_TOTAL: count_all}).values(_TOTAL))
        page = list(queryset.annotate(**{_TOTAL + "_page": total})[self.offset : self.offset + self.limit])
        if page:
            self.count = _pop_total(page)
        else:
            self.count = 0 if self.offset == 0 else queryset.count()
        return page

    def get_paginated_response(self, data: Any) -> Response:
        response = Response(data)
        for name, value in self.get_headers().items():
            response[name] = value
        return response

    def get_headers(self) -> dict[str, str]:
        headers = {TOTAL_COUNT_HEADER: str(self.count)}
        links = self.get_links()
        if links:
            headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links)
        return headers

    def get_links(self) -> list[tuple[str, str]]:
        """RFC 8288 links, absolute, keeping every other query parameter of the request.

        The URLs are exactly those of DRF's `replace_query_param`/`remove_query_param` (the query
        re-encoded with its parameters sorted by name), but the request's query is parsed and encoded
        once for all four links rather than once per link (tests/api/test_paging_links.py compares them).
        """
        base = _PageURLs(self.request.build_absolute_uri(), self.limit_query_param, self.limit, self.offset_query_param)
        last_offset = max(((self.count - 1) // self.limit) * self.limit, 0)
        links = [("first", base.at(0))]
        if self.offset > 0:
            links.append(("prev", base.at(min(max(self.offset - self.limit, 0), last_offset))))
        if self.offset + self.limit < self.count:
            links.append(("next", base.at(self.offset + self.limit)))
        links.append(("last", base.at(last_offset)))
        return links

    # --- OpenAPI -----------------------------------------------------------------------------------
    def get_paginated_response_schema(self, schema: dict) -> dict:
        """The body is the bare array; the paging is documented as response headers."""
        return schema

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"Page size (default {self.default_limit}, at most {self.max_limit}; larger is a 400).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            },
            {
                "name": self.offset_query_param,
                "required": False,
                "in": "query",
                "description": "Number of items to skip (default 0).",
                "schema": {"type": "integer", "minimum": 0, "default": 0},
            },
        ]


class _PageURLs:
    """The request's URL with `limit` set and `offset` set (or removed, for 0) to any value.

    DRF's helpers parse the query, set one parameter and urlencode the sorted parameters, per link. Here
    the sorted parameters other than `offset` are encoded once, split where `offset` sorts among them.
    """

    def __init__(self, url: str, limit_param: str, limit: int, offset_param: str) -> None:
        scheme, netloc, path, query, fragment = urlsplit(url)
        params = parse_qs(query, keep_blank_values=True)
        params[limit_param] = [str(limit)]
        params.pop(offset_param, None)
        ordered = sorted(params.items())
        self._before = urlencode([item for item in ordered if item[0] < offset_param], doseq=True)
        self._after = urlencode([item for item in ordered if item[0] > offset_param], doseq=True)
        self._offset_param = offset_param
        self._parts = (scheme, netloc, path, fragment)

    def at(self, offset: int) -> str:
        middle = f"{self._offset_param}={offset}" if offset > 0 else ""
        query = "&".join(part for part in (self._before, middle, self._after) if part)
        scheme, netloc, path, fragment = self._parts
        return urlunsplit((scheme, netloc, path, query, fragment))


def pagination_headers() -> list[OpenApiParameter]:
    """Response headers of every paginated list, for `extend_schema(parameters=...)`."""
    return [
        OpenApiParameter(
            TOTAL_COUNT_HEADER,
            int,
            OpenApiParameter.HEADER,
            response=[200],
            required=True,
            description="Total number of items matching the query, across all pages.",
        ),
        OpenApiParameter(
            "Link",
            str,
            OpenApiParameter.HEADER,
            response=[200],
            description=(
                'RFC 8288 links to the first, prev, next and last pages, e.g. `<...?limit=25&offset=25>; rel="next"`.'
            ),
        ),
    ]
