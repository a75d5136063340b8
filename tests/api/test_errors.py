"""Every 4xx/5xx under /api/ is JSON `{detail, code}`: never an HTML page, never a stack trace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.api.failing_urls import SECRET
from tests.factories import CaseFactory

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db


def _assert_json_error(response: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["code"], str)
    if code:
        assert body["code"] == code
    text = response.content.decode()
    assert "Traceback" not in text
    assert "<html" not in text.lower()
    return body


@pytest.fixture
def failing_urls(settings):
    settings.ROOT_URLCONF = "tests.api.failing_urls"


@pytest.fixture
def raw_client(user: User) -> Client:
    """A plain Django client that returns 500s instead of re-raising them."""
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/api/v1/nowhere", "/api/v2/cases", "/api/", "/api/v1/cases/1/nothing"])
def test_unknown_api_urls_are_json_404(user_client, path):
    _assert_json_error(user_client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("/api/v1/cases/", "Did you mean /api/v1/cases (without the trailing slash)?"),
        ("/api/v1/cases/7/annotations/", "Did you mean /api/v1/cases/7/annotations (without the trailing slash)?"),
        ("/api/v1/nowhere/", None),
    ],
)
def test_a_path_one_slash_off_a_route_says_which(user_client, path, hint):
    body = _assert_json_error(user_client.get(path), 404, "not_found")
    assert body["detail"] == (f"Not found. {hint}" if hint else "Not found.")


def test_the_hint_survives_debug_mode(user_client, settings):
    settings.DEBUG = True  # local settings: Django's technical 404 page, rewritten by the middleware

    body = _assert_json_error(user_client.get("/api/v1/cases/"), 404, "not_found")

    assert body["detail"] == "Not found. Did you mean /api/v1/cases (without the trailing slash)?"


def test_non_api_404_stays_html(user_client):
    response = user_client.get("/not-the-api")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_method_not_allowed_is_json_405(user_client):
    case = CaseFactory.create()
    body = _assert_json_error(user_client.delete(f"/api/v1/cases/{case.pk}"), 405, "method_not_allowed")
    assert "DELETE" in body["detail"]


def test_unexpected_error_in_an_api_view_is_a_bare_json_500(failing_urls, raw_client, caplog):
    body = _assert_json_error(raw_client.get("/api/v1/test-failing-drf"), 500, "server_error")
    assert body == {"detail": "Internal server error.", "code": "server_error"}
    assert SECRET not in str(body)
    # The traceback goes to the log (django.request), not to the client.
    assert any(SECRET in str(record.exc_info) for record in caplog.records if record.exc_info)


def test_unexpected_error_in_a_plain_django_view_under_api_is_json_500(failing_urls, raw_client):
    response = raw_client.get("/api/v1/test-failing-django")
    body = _assert_json_error(response, 500, "server_error")
    assert SECRET not in response.content.decode()
    assert body["detail"] == "Internal server error."


def test_debug_pages_are_rewritten_to_json_under_api(failing_urls, settings, raw_client):
    settings.DEBUG = True
    response = raw_client.get("/api/v1/nowhere")
    _assert_json_error(response, 404, "not_found")
    response = raw_client.get("/api/v1/test-failing-django")
    _assert_json_error(response, 500, "internal_server_error")
    assert SECRET not in response.content.decode()


def test_disallowed_host_is_json_400(user_client):
    response = user_client.get("/api/v1/cases", HTTP_HOST="evil.example.com")
    _assert_json_error(response, 400)


def test_validation_errors_name_the_field_and_say_what_is_wrong(user_client):
    case = CaseFactory.create()
    response = user_client.post(f"/api/v1/cases/{case.pk}/annotations", {"body": ""}, format="json")
    body = _assert_json_error(response, 400, "invalid")
    assert body["errors"] == {"body": ["This field may not be blank."]}
    assert body["detail"] == "Invalid input: body: This field may not be blank."


def test_schema_and_docs_are_public(api_client):
    schema = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    docs = api_client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
