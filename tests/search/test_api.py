"""GET /api/v1/search and GET /api/v1/cases?q=: ranked, paged like the case list, only what the user may see."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from cases import fulltext
from cases.models import Case
from tests.search.helpers import make_case, make_document
from tests.search.test_bad_queries import ODD_QUERIES, has_word_to_look_for

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as TestResponse

pytestmark = pytest.mark.django_db


def search(client: APIClient, query: str, **params: str | int) -> TestResponse:
    extra = "".join(f"&{name}={value}" for name, value in params.items())
    return client.get(f"/api/v1/search?q={quote(query)}{extra}")


@pytest.fixture
def collection(db: None) -> dict[str, Case]:
    title_hit = make_case(title="Klatskin tumour", tags=["hilar"])
    body_hit = make_case(title="Hilar stricture", lightweight=True)
    make_document(body_hit, title="MRCP report", full_text="Findings suggest a Klatskin tumour, Bismuth IIIa.")
    make_document(body_hit, title="Letter", full_text="Seen in clinic.")
    draft = make_case(title="Draft hilar case", status=Case.Status.DRAFT)
    make_document(draft, title="Secret draft report", full_text="Klatskin tumour in a draft case.")
    make_case(title="Whipple", specialty="Transplant", clinical_summary="Klatskin mentioned in passing.")
    return {"title_hit": title_hit, "body_hit": body_hit, "draft": draft}


def test_search_returns_ranked_cases_with_documents_and_snippets(user_client, collection):
    response = search(user_client, "klatskin")

    assert response.status_code == 200
    body = response.json()
    assert [item["case"]["title"] for item in body] == ["Klatskin tumour", "Whipple", "Hilar stricture"]
    assert response["X-Total-Count"] == "3"
    first, _, third = body
    assert set(first) == {"case", "rank", "documents", "snippet"}
    assert set(first["case"]) == {
        "id", "slug", "title", "focus", "specialty", "created_at", "updated_at", "status", "lightweight", "tags",
    }  # fmt: skip
    assert first["rank"] > third["rank"] > 0
    assert third["documents"] == [{"id": third["documents"][0]["id"], "title": "MRCP report"}]
    assert "<mark>Klatskin</mark>" in third["snippet"]


def test_the_case_summary_is_the_case_lists(user_client, collection):
    searched = search(user_client, "klatskin tumour").json()
    listed = {row["id"]: row for row in user_client.get("/api/v1/cases").json()}

    for item in searched:
        if item["case"]["specialty"] == "HPB":
            assert item["case"] == listed[item["case"]["id"]]


def test_non_staff_never_see_draft_cases_or_their_documents(user_client, staff_client, collection):
    as_user = search(user_client, "secret or klatskin").json()
    as_staff = search(staff_client, "secret or klatskin").json()

    assert collection["draft"].pk not in [item["case"]["id"] for item in as_user]
    assert "Secret" not in str(as_user)
    assert collection["draft"].pk in [item["case"]["id"] for item in as_staff]
    assert search(user_client, "secret").json() == []


def test_lightweight_mode_limits_the_search(user_client, settings, collection):
    assert [i["case"]["id"] for i in search(user_client, "klatskin", lightweight="true").json()] == [
        collection["body_hit"].pk
    ]
    settings.FEATURE_FLAG_LIGHTWEIGHT_MODE = True
    assert [i["case"]["id"] for i in search(user_client, "klatskin").json()] == [collection["body_hit"].pk]


def test_search_pages_like_the_case_list(user_client):
    for number in range(5):
        make_case(title=f"Caudate lobe case {number}")

    first = search(user_client, "caudate", limit=2)
    last = search(user_client, "caudate", limit=2, offset=4)
    beyond = search(user_client, "caudate", limit=2, offset=10)

    assert [i["case"]["title"] for i in first.json()] == ["Caudate lobe case 4", "Caudate lobe case 3"]
    assert first["X-Total-Count"] == last["X-Total-Count"] == beyond["X-Total-Count"] == "5"
    assert 'rel="next"' in first["Link"] and "offset=2" in first["Link"] and "q=caudate" in first["Link"]
    assert 'rel="next"' not in last["Link"] and len(last.json()) == 1
    assert beyond.json() == []
    assert search(user_client, "caudate", limit=101).status_code == 400
    assert search(user_client, "caudate", offset=-1).status_code == 400


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/api/v1/search", "Give a search query"),
        ("/api/v1/search?q=", "empty"),
        ("/api/v1/search?q=%20%09%20", "empty"),
        ("/api/v1/search?q=" + "x" * 501, "at most 500"),
        ("/api/v1/search?q=liver%00", "NUL"),
        ("/api/v1/cases?q=", "empty"),
        ("/api/v1/cases?q=%20", "empty"),
        ("/api/v1/cases?q=" + "y" * 600, "at most 500"),
        ("/api/v1/cases?q=%00", "NUL"),
    ],
)
def test_unusable_queries_are_json_400s(user_client, path, message):
    response = user_client.get(path)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert message in body["errors"]["q"][0]
    assert message in body["detail"]


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_odd_queries_never_fail(user_client, collection, query):
    for path in ("/api/v1/search", "/api/v1/cases"):
        response = user_client.get(path, {"q": query})
        if has_word_to_look_for(query):
            assert response.status_code == 200, (path, query, response.content[:200])
            assert isinstance(response.json(), list)
        else:  # nothing to look for: a 400 saying so, not a silent empty list
            assert response.status_code == 400, (path, query, response.content[:200])
            assert response.json()["errors"]["q"][0] in (fulltext.NO_WORDS, fulltext.ONLY_EXCLUSIONS)


@pytest.mark.parametrize(
    ("query", "message"), [("the", "no word to look for"), ("-liver", "only says what to leave out")]
)
def test_a_query_with_nothing_to_look_for_is_a_400_saying_why(user_client, collection, query, message):
    for path in ("/api/v1/search", "/api/v1/cases"):
        response = user_client.get(path, {"q": query})
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert message in response.json()["errors"]["q"][0]


def test_anonymous_searches_are_refused(api_client):
    assert api_client.get("/api/v1/search?q=liver").status_code == 401


def test_case_list_q_is_ranked_and_keeps_the_lists_filters(user_client, staff_client, collection):
    ranked = user_client.get("/api/v1/cases?q=klatskin")

    # specialty defaults to HPB as without q, so the Transplant case is not listed; drafts stay hidden
    assert [row["title"] for row in ranked.json()] == ["Klatskin tumour", "Hilar stricture"]
    assert ranked["X-Total-Count"] == "2"
    assert [r["title"] for r in user_client.get("/api/v1/cases?q=klatskin&specialty=Transplant").json()] == ["Whipple"]
    assert [r["title"] for r in user_client.get("/api/v1/cases?q=klatskin&tag=hilar").json()] == ["Klatskin tumour"]
    assert [r["title"] for r in staff_client.get("/api/v1/cases?q=klatskin&status=draft").json()] == [
        "Draft hilar case"
    ]
    assert user_client.get("/api/v1/cases?q=klatskin&status=draft").status_code == 403


def test_query_counts(user_client, collection):
    with CaptureQueriesContext(connection) as listed:
        assert user_client.get("/api/v1/cases?q=klatskin").status_code == 200
    with CaptureQueriesContext(connection) as searched:
        assert search(user_client, "klatskin").status_code == 200
    with CaptureQueriesContext(connection) as nothing:
        assert search(user_client, "xanthogranulomatous").status_code == 200

    assert len(listed.captured_queries) == 1  # ranked page with its total and the summary rows
    assert len(searched.captured_queries) == 2  # + the page's matching documents and snippets
    assert len(nothing.captured_queries) == 2  # an empty page asks whether the query could match at all


def test_snippets_are_html_safe_through_the_api(user_client):
    case = make_case(title="A")
    make_document(case, full_text='<img src=x onerror="alert(1)"> & a resection <b>note</b>')

    (item,) = search(user_client, "resection").json()

    assert item["snippet"].replace("<mark>", "").replace("</mark>", "").count("<") == 0
    assert "<mark>resection</mark>" in item["snippet"]


def test_schema_documents_the_search():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/search"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}

    assert parameters["q"]["required"] is True
    assert {"limit", "offset", "lightweight"} <= set(parameters)
    assert set(operation["responses"]["200"]["headers"]) == {"X-Total-Count", "Link"}
    assert "400" in operation["responses"]
    listing = {p["name"]: p for p in schema["paths"]["/api/v1/cases"]["get"]["parameters"]}
    assert listing["q"].get("required", False) is False


def test_the_api_root_links_the_search(user_client):
    assert user_client.get("/api/v1/").json()["search"].endswith("/api/v1/search")
