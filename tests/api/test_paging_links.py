"""The paging Link header's URLs are exactly those DRF's query helpers build, however odd the query."""

from __future__ import annotations

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.utils.urls import remove_query_param, replace_query_param

from hpb.api.pagination import HeaderLimitOffsetPagination

QUERIES = [
    "",
    "limit=10",
    "offset=20&limit=10",
    "limit=10&offset=0",
    "tag=liver&status=draft&limit=5&offset=5",
    "z=last&a=first&offset=3&limit=3&m=middle",
    "q=%22portal+vein%22+-splenectomy&limit=2",
    "tag=h%C3%A9patique&tag=second&tag=&limit=4",
    "flag&empty=&limit=3&offset=99",
    "offset=1&offset=2&limit=7",
    "x=%ZZ&limit=2",
    "pa+th=a%26b%3Dc&limit=2",
    "lightweight=true&limit=25",
]


def _drf_links(paginator: HeaderLimitOffsetPagination) -> list[tuple[str, str]]:
    """The implementation these links replaced, built on DRF's helpers."""

    def with_offset(base: str, offset: int) -> str:
        if offset <= 0:
            return remove_query_param(base, "offset")
        return replace_query_param(base, "offset", offset)

    base = replace_query_param(paginator.request.build_absolute_uri(), "limit", paginator.limit)
    last_offset = max(((paginator.count - 1) // paginator.limit) * paginator.limit, 0)
    links = [("first", remove_query_param(base, "offset"))]
    if paginator.offset > 0:
        links.append(("prev", with_offset(base, min(max(paginator.offset - paginator.limit, 0), last_offset))))
    if paginator.offset + paginator.limit < paginator.count:
        links.append(("next", with_offset(base, paginator.offset + paginator.limit)))
    links.append(("last", with_offset(base, last_offset)))
    return links


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("count", [0, 1, 3, 26, 1000])
def test_links_equal_drfs(query, count):
    request = Request(APIRequestFactory().get("/api/v1/cases?" + query if query else "/api/v1/cases"))
    paginator = HeaderLimitOffsetPagination()
    paginator.read_page_parameters(request)
    paginator.count = count
    ours = paginator.get_links()
    assert ours == _drf_links(paginator)
    assert ours[0][0] == "first"
    assert ours[-1][0] == "last"
