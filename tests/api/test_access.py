"""Authentication (session, token, anonymous 401) and who sees which cases."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cases.models import Case
from tests.factories import AnnotationFactory, CaseFactory

pytestmark = pytest.mark.django_db

PROTECTED_GETS = [
    "/api/v1/",
    "/api/v1/config",
    "/api/v1/cases",
    "/api/v1/cases/{case}",
    "/api/v1/cases/{case}/annotations",
    "/api/v1/annotations/{note}",
]


@pytest.mark.parametrize("template", PROTECTED_GETS)
def test_anonymous_requests_are_401_with_json(api_client, template):
    note = AnnotationFactory.create()
    response = api_client.get(template.format(case=note.case_id, note=note.pk))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}


def test_anonymous_writes_are_401(api_client):
    note = AnnotationFactory.create()
    assert api_client.post(f"/api/v1/cases/{note.case_id}/annotations", {"body": "x"}, format="json").status_code == 401
    assert api_client.patch(f"/api/v1/annotations/{note.pk}", {"body": "x"}, format="json").status_code == 401
    assert api_client.delete(f"/api/v1/annotations/{note.pk}").status_code == 401


def test_a_wrong_token_is_401(api_client):
    CaseFactory.create()
    api_client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = api_client.get("/api/v1/cases")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_token_endpoint_exchanges_credentials_for_a_working_token(api_client, user):
    response = api_client.post(
        "/api/v1/auth/token", {"username": user.username, "password": "pw-for-tests-only"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert token == Token.objects.get(user=user).key
    # Asking again gives the same token.
    again = api_client.post("/api/v1/auth/token", {"username": user.username, "password": "pw-for-tests-only"})
    assert again.json()["token"] == token

    case = CaseFactory.create()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert [c["id"] for c in client.get("/api/v1/cases").json()] == [case.pk]


@pytest.mark.parametrize(
    "payload",
    [{"username": "nobody", "password": "nope"}, {"username": "", "password": ""}, {}],
)
def test_token_endpoint_refuses_bad_credentials_with_400(api_client, user, payload):
    response = api_client.post("/api/v1/auth/token", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"].startswith("Invalid input:")
    assert not Token.objects.exists()


def test_token_endpoint_refuses_a_wrong_password(api_client, user):
    response = api_client.post("/api/v1/auth/token", {"username": user.username, "password": "wrong"}, format="json")
    assert response.status_code == 400
    assert "Unable to log in" in response.json()["detail"]


def test_token_endpoint_only_accepts_post(api_client):
    response = api_client.get("/api/v1/auth/token")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_session_login_works_and_session_writes_need_csrf(user):
    case = CaseFactory.create()
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username=user.username, password="pw-for-tests-only")
    assert client.get(f"/api/v1/cases/{case.pk}").status_code == 200
    response = client.post(f"/api/v1/cases/{case.pk}/annotations", {"body": "no csrf"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_non_staff_see_published_cases_only(user_client):
    published = CaseFactory.create(status=Case.Status.PUBLISHED)
    draft = CaseFactory.create(status=Case.Status.DRAFT)
    archived = CaseFactory.create(status=Case.Status.ARCHIVED)
    response = user_client.get("/api/v1/cases")
    assert [c["id"] for c in response.json()] == [published.pk]
    assert response["X-Total-Count"] == "1"
    for hidden in (draft, archived):
        detail = user_client.get(f"/api/v1/cases/{hidden.pk}")
        assert detail.status_code == 404
        assert detail.json()["code"] == "not_found"


def test_non_staff_may_only_filter_for_published(user_client):
    published = CaseFactory.create()
    assert [c["id"] for c in user_client.get("/api/v1/cases?status=published").json()] == [published.pk]
    response = user_client.get("/api/v1/cases?status=draft")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only staff may list draft or archived cases."


def test_staff_see_every_status_and_may_filter_by_it(staff_client):
    published = CaseFactory.create(status=Case.Status.PUBLISHED)
    draft = CaseFactory.create(status=Case.Status.DRAFT)
    archived = CaseFactory.create(status=Case.Status.ARCHIVED)
    ids = {c["id"] for c in staff_client.get("/api/v1/cases").json()}
    assert ids == {published.pk, draft.pk, archived.pk}
    assert [c["id"] for c in staff_client.get("/api/v1/cases?status=draft").json()] == [draft.pk]
    assert [c["id"] for c in staff_client.get("/api/v1/cases?status=archived").json()] == [archived.pk]
    assert staff_client.get(f"/api/v1/cases/{draft.pk}").json()["status"] == "draft"
    assert staff_client.get("/api/v1/cases?status=secret").status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cases/999999",
        "/api/v1/cases/abc",
        "/api/v1/cases/0",
        "/api/v1/cases/-1",
        "/api/v1/cases/1.5",
        "/api/v1/cases/99999999999999999999",
        "/api/v1/cases/9223372036854775808",
        "/api/v1/cases/999999/annotations",
        "/api/v1/cases/abc/annotations",
        "/api/v1/annotations/999999",
        "/api/v1/annotations/%00",
    ],
)
def test_unknown_and_malformed_ids_are_json_404(user_client, path):
    CaseFactory.create()
    response = user_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"
