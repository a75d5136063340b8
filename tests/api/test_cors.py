"""CORS for the viewer's origin: preflight, exposed paging headers, regex origins, refusals."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.test import Client

from tests.factories import CaseFactory

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db


def _preflight(client: Client, origin: str, path: str = "/api/v1/cases", method: str = "GET") -> TestResponse:
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


def test_preflight_from_the_default_viewer_origin_is_allowed(api_client):
    response = _preflight(api_client, "http://localhost:5173")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "GET" in response["Access-Control-Allow-Methods"]
    allowed_headers = response["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers


def test_preflight_for_a_post_of_annotations(api_client):
    response = _preflight(api_client, "http://localhost:5173", "/api/v1/cases/1/annotations", "POST")
    assert response.status_code == 200
    assert "POST" in response["Access-Control-Allow-Methods"]


def test_actual_response_exposes_the_paging_headers(user_client):
    CaseFactory.create()
    response = user_client.get("/api/v1/cases", HTTP_ORIGIN="http://localhost:5173")
    assert response["Access-Control-Allow-Origin"] == "http://localhost:5173"
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert {"x-total-count", "link", "retry-after"} <= exposed


def test_errors_carry_cors_headers_too(api_client):
    response = api_client.get("/api/v1/cases", HTTP_ORIGIN="http://localhost:5173")
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == "http://localhost:5173"
    response = api_client.get("/api/v1/no-such-thing", HTTP_ORIGIN="http://localhost:5173")
    assert response.status_code == 404
    assert response["Access-Control-Allow-Origin"] == "http://localhost:5173"


def test_unknown_origin_gets_no_cors_headers(api_client):
    response = _preflight(api_client, "https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in response


def test_origin_regex_admits_preview_deployments(settings, api_client):
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^https://[a-z0-9-]+\.viewer\.example\.org$"]
    ok = _preflight(api_client, "https://pr-42.viewer.example.org")
    assert ok["Access-Control-Allow-Origin"] == "https://pr-42.viewer.example.org"
    refused = _preflight(api_client, "https://pr-42.viewer.example.org.evil.com")
    assert "Access-Control-Allow-Origin" not in refused


def test_configured_origins_replace_the_default(settings, api_client):
    settings.CORS_ALLOWED_ORIGINS = ["https://viewer.example.org"]
    assert _preflight(api_client, "https://viewer.example.org")["Access-Control-Allow-Origin"]
    assert "Access-Control-Allow-Origin" not in _preflight(api_client, "http://localhost:5173")
