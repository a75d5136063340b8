"""The number of SQL queries per request does not grow with the data (issue 3: list <= 3, detail <= 8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from cases.models import Case
from tests.factories import (
    AnnotationFactory,
    CaseFactory,
    CaseStructureFactory,
    DocumentFactory,
    ImagingStudyFactory,
)

pytestmark = pytest.mark.django_db


def _case_with(n: int) -> Case:
    case = CaseFactory.create()
    DocumentFactory.create_batch(n, cases=[case])
    studies = ImagingStudyFactory.create_batch(n, case=case)
    for i in range(n):
        CaseStructureFactory.create(case=case, imaging_study=studies[i % len(studies)])
    return case


def _queries(client: APIClient, path: str, count_queries: Callable[[], Any]) -> int:
    with count_queries() as counter:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return counter.count


def test_detail_query_count_is_constant(user_client, count_queries):
    small, large = _case_with(1), _case_with(50)
    small_count = _queries(user_client, f"/api/v1/cases/{small.pk}", count_queries)
    large_count = _queries(user_client, f"/api/v1/cases/{large.pk}", count_queries)
    assert small_count == large_count
    assert large_count <= 8
    assert large_count == 1  # PostgreSQL: related rows as JSON arrays of the case query
    body = user_client.get(f"/api/v1/cases/{large.pk}").json()
    assert len(body["documents"]) == len(body["imaging_studies"]) == len(body["structures"]) == 50


def test_list_query_count_is_constant(user_client, count_queries):
    for _ in range(1):
        _case_with(2)
    one = _queries(user_client, "/api/v1/cases", count_queries)
    for _ in range(49):
        CaseFactory.create()
    fifty = _queries(user_client, "/api/v1/cases?limit=100", count_queries)
    assert one == fifty == 1  # the page with its total as a subquery (force_authenticate: no auth query)


def test_an_offset_past_the_end_costs_one_more_query_when_filtered(user_client, count_queries):
    CaseFactory.create_batch(3, tags=["liver"])
    assert _queries(user_client, "/api/v1/cases?tag=liver&offset=10", count_queries) == 2
    response = user_client.get("/api/v1/cases?tag=liver&offset=10")
    assert response.json() == []
    assert response["X-Total-Count"] == "3"


def test_an_offset_past_the_end_of_the_unfiltered_list_is_still_one_query(user_client, count_queries):
    CaseFactory.create_batch(3)
    assert _queries(user_client, "/api/v1/cases?offset=10", count_queries) == 1  # the counter's row comes alone
    response = user_client.get("/api/v1/cases?offset=10")
    assert response.json() == []
    assert response["X-Total-Count"] == "3"
    assert 'rel="prev"' in response["Link"]


def test_list_with_token_auth_is_two_queries(token_client, count_queries):
    CaseFactory.create_batch(30)
    assert _queries(token_client, "/api/v1/cases?tag=liver&q=case", count_queries) == 2  # token, page + total


def test_annotation_list_query_count_is_constant(user_client, count_queries):
    case = CaseFactory.create()
    AnnotationFactory.create(case=case)
    one = _queries(user_client, f"/api/v1/cases/{case.pk}/annotations", count_queries)
    AnnotationFactory.create_batch(49, case=case)
    fifty = _queries(user_client, f"/api/v1/cases/{case.pk}/annotations?limit=100", count_queries)
    assert one == fifty == 2  # case visibility, page + total (authors joined)
