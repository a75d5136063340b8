"""Lightweight mode: per-request toggle, server flag, what is listed and what URLs are left out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.api.conftest import make_case_with_files
from tests.factories import AnnotationFactory, CaseFactory

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as TestResponse

pytestmark = pytest.mark.django_db


@pytest.fixture
def light_and_heavy(db):
    light = make_case_with_files(lightweight=True)
    heavy = make_case_with_files(lightweight=False)
    return light, heavy


def _ids(response: TestResponse) -> set[int]:
    return {c["id"] for c in response.json()}


def test_off_by_default_everything_listed_with_volume_urls(user_client, light_and_heavy):
    light, heavy = light_and_heavy
    assert _ids(user_client.get("/api/v1/cases")) == {light.case.pk, heavy.case.pk}
    body = user_client.get(f"/api/v1/cases/{heavy.case.pk}").json()
    assert body["imaging_studies"][0]["volume_uri"]
    config = user_client.get("/api/v1/config").json()
    assert config["lightweight_mode"] is False
    assert config["lightweight_forced"] is False


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_request_toggle_lists_and_serves_only_lightweight_cases_without_volumes(user_client, light_and_heavy, value):
    light, heavy = light_and_heavy
    response = user_client.get(f"/api/v1/cases?lightweight={value}")
    assert _ids(response) == {light.case.pk}
    assert response["X-Total-Count"] == "1"
    assert user_client.get(f"/api/v1/cases/{heavy.case.pk}?lightweight={value}").status_code == 404

    body = user_client.get(f"/api/v1/cases/{light.case.pk}?lightweight={value}").json()
    (study,) = body["imaging_studies"]
    assert study["volume_uri"] is None
    assert study["preview_uri"]  # small files stay
    assert all(s["mesh_uri"] for s in body["structures"])
    assert len(body["structures"]) == len(light.structures)
    assert all(d["storage_uri"] for d in body["documents"])
    assert user_client.get(f"/api/v1/config?lightweight={value}").json()["lightweight_mode"] is True


def test_request_toggle_false_is_the_default(user_client, light_and_heavy):
    assert len(user_client.get("/api/v1/cases?lightweight=false").json()) == 2


@pytest.mark.parametrize("value", ["yes", "2", "", "tru"])
def test_invalid_toggle_is_400(user_client, light_and_heavy, value):
    for path in ("/api/v1/cases", f"/api/v1/cases/{light_and_heavy[0].case.pk}", "/api/v1/config"):
        response = user_client.get(f"{path}?lightweight={value}")
        assert response.status_code == 400, path
        assert "lightweight" in response.json()["errors"]


def test_server_flag_forces_it_on_for_every_request(settings, user_client, light_and_heavy):
    settings.FEATURE_FLAG_LIGHTWEIGHT_MODE = True
    light, heavy = light_and_heavy
    for query in ("", "?lightweight=false", "?lightweight=0"):
        assert _ids(user_client.get(f"/api/v1/cases{query}")) == {light.case.pk}
        assert user_client.get(f"/api/v1/cases/{heavy.case.pk}{query}").status_code == 404
        body = user_client.get(f"/api/v1/cases/{light.case.pk}{query}").json()
        assert body["imaging_studies"][0]["volume_uri"] is None
        config = user_client.get(f"/api/v1/config{query}").json()
        assert config["lightweight_mode"] is True
        assert config["lightweight_forced"] is True


def test_lightweight_mode_hides_notes_of_heavy_cases(user_client, light_and_heavy):
    light, heavy = light_and_heavy
    note = AnnotationFactory.create(case=heavy.case)
    assert user_client.get(f"/api/v1/cases/{heavy.case.pk}/annotations?lightweight=true").status_code == 404
    assert user_client.get(f"/api/v1/annotations/{note.pk}?lightweight=true").status_code == 404
    assert user_client.get(f"/api/v1/annotations/{note.pk}").status_code == 200
    assert user_client.get(f"/api/v1/cases/{light.case.pk}/annotations?lightweight=true").status_code == 200


def test_config_reports_the_presign_expiry_and_version(settings, user_client):
    settings.STORAGE_URL_EXPIRY_SECONDS = 321
    CaseFactory.create()
    body = user_client.get("/api/v1/config").json()
    assert body == {
        "lightweight_mode": False,
        "lightweight_forced": False,
        "presign_expiry_seconds": 321,
        "api_version": settings.SPECTACULAR_SETTINGS["VERSION"],
    }
