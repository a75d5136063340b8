"""The viewer manifest in the API: GET /api/v1/cases/{id}/manifest and GET /api/v1/cases?include=manifest."""

from __future__ import annotations

from typing import Any, cast

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cases.models import Case
from imaging.models import ViewerBundle
from imaging.services import bundles
from tests.factories import CaseFactory
from tests.viewer.conftest import BundleCase

pytestmark = pytest.mark.django_db


def _fetch(client: APIClient, url: str) -> bytes:
    response = client.get(url.removeprefix("http://testserver"))
    assert response.status_code == 200, url
    return b"".join(cast(Any, response).streaming_content)  # a FileResponse: streamed


def test_the_manifest_is_the_bundles_with_a_signed_url_beside_each_path(
    bundle_case: BundleCase, user_client: APIClient
) -> None:
    bundles.sync_bundle(case_id=bundle_case.case.pk)
    stored = ViewerBundle.objects.get(case=bundle_case.case).manifest

    response = user_client.get(f"/api/v1/cases/{bundle_case.case.pk}/manifest")

    assert response.status_code == 200
    body = response.json()
    for name in ("case_id", "title", "focus", "meshes", "metadata", "timestamp", "content_hash"):
        assert body[name] == stored[name]
    assert body["volume"]["output"] == stored["volume"]["output"]
    assert _fetch(user_client, body["volume"]["url"]).startswith(b'<?xml version="1.0"?>\n<VTKFile type="ImageData"')
    for entry in body["segmentations"]:
        assert body["mesh_urls"][entry["display_name"]] == entry["url"]
        assert _fetch(user_client, entry["url"]).startswith(b'<VTKFile type="PolyData"')
    for entry in body["documents"]:
        assert _fetch(user_client, entry["url"]).startswith(b"%PDF-")
    assert {f["path"] for f in body["files"]} == {f["path"] for f in stored["files"]}
    assert all(f["url"] for f in body["files"])


def test_lightweight_mode_leaves_the_volume_url_out(bundle_case: BundleCase, user_client: APIClient) -> None:
    bundles.sync_bundle(case_id=bundle_case.case.pk)
    Case.objects.filter(pk=bundle_case.case.pk).update(lightweight=True)

    body = user_client.get(f"/api/v1/cases/{bundle_case.case.pk}/manifest?lightweight=true").json()

    assert body["volume"]["url"] is None and body["volume"]["output"]
    assert all(entry["url"] for entry in body["segmentations"])


def test_no_bundle_no_case_and_no_sign_in_are_clear_errors(
    db: None, viewer_local: Any, staff_client: APIClient, user_client: APIClient
) -> None:
    draft = CaseFactory.create(status=Case.Status.DRAFT)
    published = CaseFactory.create()

    assert APIClient().get(f"/api/v1/cases/{published.pk}/manifest").status_code == 401
    assert user_client.get(f"/api/v1/cases/{draft.pk}/manifest").status_code == 404  # not visible to researchers
    missing = staff_client.get(f"/api/v1/cases/{draft.pk}/manifest")
    assert missing.status_code == 404 and "no published viewer bundle" in missing.json()["detail"]
    assert user_client.get(f"/api/v1/cases/{published.pk}/manifest").json()["code"] == "not_found"
    assert user_client.get("/api/v1/cases/999999/manifest").status_code == 404


def _bundle(case: Case) -> None:
    ViewerBundle.objects.create(
        case=case,
        folder=bundles.folder_name(case.pk),
        manifest={
            "case_id": bundles.folder_name(case.pk),
            "title": case.title,
            "meshes": {"Liver": "segmentations/liver-0.vtp"},
        },
        published_at=case.created_at,
    )


def _list_queries(client: APIClient, path: str) -> tuple[int, list[dict[str, Any]]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(queries), response.json()


def test_the_list_includes_manifests_at_one_query_more_whatever_the_page(
    user_client: APIClient, viewer_local: Any
) -> None:
    first = CaseFactory.create()
    _bundle(first)
    plain_count, plain = _list_queries(user_client, "/api/v1/cases")
    one_count, one = _list_queries(user_client, "/api/v1/cases?include=manifest")
    for _ in range(30):
        _bundle(CaseFactory.create())
    CaseFactory.create()  # published, without a bundle
    many_count, many = _list_queries(user_client, "/api/v1/cases?include=manifest&limit=100")

    assert "manifest" not in plain[0]
    assert one_count == many_count == plain_count + 1
    assert one[0]["manifest"]["mesh_urls"]["Liver"].startswith("http://testserver/files/viewer/liverCases/case-")
    assert len(many) == 32 and many[0]["manifest"] is None and all(row["manifest"] for row in many[1:])


def test_an_unknown_include_is_a_400_naming_the_accepted_ones(user_client: APIClient) -> None:
    response = user_client.get("/api/v1/cases?include=manifest,patients")

    assert response.status_code == 400
    assert response.json()["errors"]["include"] == ["Unknown include patients; accepted: manifest."]
