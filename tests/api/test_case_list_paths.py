"""The counted case list (counter + once-written statement) and the ORM list give the same rows and totals.

The unfiltered list is served by `reading.counted_case_page` on PostgreSQL; any filter (tag, specialty,
status, q) goes through the ORM and counts the rows. Both must agree with a real COUNT and with each
other, for every visibility combination (staff or not, lightweight by request or by the server flag).
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cases.models import Case
from cases.services import access, list_counts, reading
from tests.factories import CaseFactory, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

SAME_MOMENT = dt.datetime(2024, 5, 6, 7, 8, 9, 123_456, tzinfo=dt.UTC)


@pytest.fixture
def mixed_cases() -> list[Case]:
    """Cases of every group, several created at the very same moment (the id breaks the tie)."""
    cases = []
    for status, lightweight, specialty in itertools.product(
        Case.Status.values, [False, True], ["HPB", "HPB", "Transplant"]
    ):
        cases.append(CaseFactory.create(status=status, lightweight=lightweight, specialty=specialty))
    # created_at is auto_now_add: set moments afterwards, with ties and a whole second (no microseconds).
    for i, case in enumerate(cases):
        moment = SAME_MOMENT if i % 4 == 0 else SAME_MOMENT - dt.timedelta(seconds=i, microseconds=i * 7)
        if i == 5:
            moment = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        Case.objects.filter(pk=case.pk).update(created_at=moment)
    return cases


FILTER_SETS = [
    {},
    {"specialty": "HPB"},
    {"specialty": "HPB", "status": "published"},
    {"specialty": "HPB", "lightweight": True},
    {"specialty": "HPB", "status": "published", "lightweight": True},
    {"status": "draft"},
    {"specialty": "Nothing"},
]


@pytest.mark.parametrize("filters", FILTER_SETS)
@pytest.mark.parametrize(("limit", "offset"), [(25, 0), (3, 0), (3, 3), (2, 5), (100, 30), (1, 1000)])
def test_counted_page_equals_the_orm_page(mixed_cases, filters, limit, offset):
    orm = Case.objects.filter(**filters)
    total, rows = reading.counted_case_page(filters=filters, limit=limit, offset=offset, using="default")
    assert total == orm.count()
    assert rows == list(reading.case_summaries(orm)[offset : offset + limit])
    for row in rows:  # same types too: aware UTC datetimes, decoded tags
        assert row["created_at"].tzinfo is dt.UTC
        assert isinstance(row["tags"], list)


def test_ties_are_broken_by_id_newest_first(mixed_cases):
    _, rows = reading.counted_case_page(filters={}, limit=100, offset=0, using="default")
    tied = [row["id"] for row in rows if row["created_at"] == SAME_MOMENT]
    assert len(tied) > 1
    assert tied == sorted(tied, reverse=True)
    keys = [(row["created_at"], row["id"]) for row in rows]
    assert keys == sorted(keys, reverse=True)


def test_a_filter_on_another_column_is_refused():
    with pytest.raises(list_counts.NotCountedError):
        reading.counted_case_page(filters={"title": "x"}, limit=25, offset=0, using="default")


def _client(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


VISIBILITY = [
    pytest.param(False, "", False, id="researcher"),
    pytest.param(True, "", False, id="staff"),
    pytest.param(False, "?lightweight=true", False, id="researcher-lightweight"),
    pytest.param(True, "?lightweight=1", False, id="staff-lightweight"),
    pytest.param(False, "", True, id="researcher-server-flag"),
    pytest.param(True, "?lightweight=false", True, id="staff-server-flag"),
]


@pytest.mark.parametrize(("staff", "query", "forced"), VISIBILITY)
def test_total_equals_a_real_count_in_every_visibility_combination(settings, mixed_cases, staff, query, forced):
    settings.FEATURE_FLAG_LIGHTWEIGHT_MODE = forced
    user = StaffUserFactory.create() if staff else UserFactory.create()
    lightweight = forced or "lightweight=true" in query or "lightweight=1" in query
    visible = access.visible_cases(user=user, lightweight=lightweight).filter(specialty="HPB")
    client = _client(user)

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/cases" + query)
    assert response.status_code == 200
    assert len(queries.captured_queries) == 1
    assert list_counts.TABLE in queries.captured_queries[0]["sql"]  # the counted path
    assert response["X-Total-Count"] == str(visible.count())
    assert [c["id"] for c in response.json()] == list(
        visible.order_by("-created_at", "-id").values_list("id", flat=True)
    )

    # Paging through the counted path gives every visible case once, in order.
    separator = "&" if query else "?"
    seen = []
    for offset in range(0, visible.count() + 3, 3):
        page = client.get(f"/api/v1/cases{query}{separator}limit=3&offset={offset}")
        assert page["X-Total-Count"] == str(visible.count())
        seen += [c["id"] for c in page.json()]
    assert seen == list(visible.order_by("-created_at", "-id").values_list("id", flat=True))


@pytest.mark.parametrize("staff", [False, True])
@pytest.mark.parametrize(
    ("params", "extra"),
    [
        ("specialty=Transplant", {"specialty": "Transplant"}),
        ("specialty=HPB", {"specialty": "HPB"}),
        ("status=published", {"specialty": "HPB", "status": "published"}),
        ("tag=liver", {"specialty": "HPB", "tags__contains": ["liver"]}),
    ],
)
def test_filtered_lists_count_the_rows_and_agree(mixed_cases, staff, params, extra):
    user = StaffUserFactory.create() if staff else UserFactory.create()
    visible = access.visible_cases(user=user, lightweight=False).filter(**extra)
    with CaptureQueriesContext(connection) as queries:
        response = _client(user).get(f"/api/v1/cases?{params}")
    assert response.status_code == 200
    assert "COUNT(*)" in queries.captured_queries[0]["sql"]  # the ORM path
    assert list_counts.TABLE not in queries.captured_queries[0]["sql"]
    assert response["X-Total-Count"] == str(visible.count())
    assert [c["id"] for c in response.json()] == list(
        visible.order_by("-created_at", "-id").values_list("id", flat=True)
    )


def test_both_paths_render_the_same_body_and_headers(mixed_cases):
    """`?specialty=HPB` (ORM) and no parameter (counted) ask the same question."""
    client = _client(StaffUserFactory.create())
    counted = client.get("/api/v1/cases?limit=4&offset=4")
    orm = client.get("/api/v1/cases?limit=4&offset=4&specialty=HPB")
    assert counted.json() == orm.json()
    assert counted["X-Total-Count"] == orm["X-Total-Count"]
    assert counted["Link"] == orm["Link"].replace("&specialty=HPB", "")


def test_the_total_follows_writes_immediately(mixed_cases):
    client = _client(UserFactory.create())
    before = int(client.get("/api/v1/cases")["X-Total-Count"])
    draft = CaseFactory.create(status=Case.Status.DRAFT)
    assert int(client.get("/api/v1/cases")["X-Total-Count"]) == before
    draft.status = Case.Status.PUBLISHED
    draft.save()
    assert int(client.get("/api/v1/cases")["X-Total-Count"]) == before + 1
    Case.objects.filter(status=Case.Status.PUBLISHED, specialty="HPB").delete()
    assert client.get("/api/v1/cases")["X-Total-Count"] == "0"
    assert client.get("/api/v1/cases").json() == []
