"""The API upload flow: announce, upload with the returned forms, complete, follow the job."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from cases.models import Case
from imaging.models import CaseStructure, ImagingStudy, IngestJob
from imaging.services import direct_upload
from tests.ingest.conftest import stored_keys

pytestmark = pytest.mark.django_db


def uploads_url(case_id: int) -> str:
    return f"/api/v1/cases/{case_id}/imaging/uploads"


def announce(staff_client: APIClient, case: Case, files: list[tuple[str, int]], **extra: Any) -> Any:
    body = {"files": [{"name": name, "size": size} for name, size in files], **extra}
    return staff_client.post(uploads_url(case.pk), body, format="json")


def post_form(form: dict[str, Any], name: str, content: bytes) -> Any:
    """POST a file with its upload form, as a browser or a script would (multipart, file last)."""
    if form["url"].startswith("http://testserver/"):
        data = {**form["fields"], "file": SimpleUploadedFile(name, content)}
        return Client().post(form["url"].removeprefix("http://testserver"), data)
    return requests.post(form["url"], data=form["fields"], files={"file": (name, content)}, timeout=30)


# --- who may -------------------------------------------------------------------------------------------


def test_uploads_need_an_authenticated_staff_member(api_client, user_client, case):
    body = {"files": [{"name": "a.zip"}]}
    anonymous = api_client.post(uploads_url(case.pk), body, format="json")
    researcher = user_client.post(uploads_url(case.pk), body, format="json")
    assert anonymous.status_code in (401, 403)
    assert "detail" in anonymous.json()
    assert researcher.status_code == 403
    assert not IngestJob.objects.exists()


def test_job_status_needs_a_staff_member(api_client, user_client, case):
    job = IngestJob.objects.create(case=case)
    assert api_client.get(f"/api/v1/ingest-jobs/{job.pk}").status_code in (401, 403)
    assert user_client.get(f"/api/v1/ingest-jobs/{job.pk}").status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"files": []}, "files"),
        ({}, "files"),
        ({"files": [{"name": "a.zip", "size": 10 * 1024**4}]}, "files"),
        ({"files": [{"name": "a.zip"}], "labels": {"liver": "1"}}, "labels"),
        ({"files": [{"name": "a.zip"}], "labels": {"1": ""}}, "labels"),
    ],
)
def test_a_bad_announcement_is_refused_with_a_json_reason(staff_client, case, body, field):
    response = staff_client.post(uploads_url(case.pk), body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert not IngestJob.objects.exists()


def test_an_unknown_case_is_404(staff_client):
    assert staff_client.post(uploads_url(999999), {"files": [{"name": "a.zip"}]}, format="json").status_code == 404


# --- the flow on the local filesystem ---------------------------------------------------------------


def test_the_whole_flow_on_the_filesystem(staff_client, case, phantom, phantom_zip, django_capture_on_commit_callbacks):
    response = announce(
        staff_client,
        case,
        [(phantom_zip.name, phantom_zip.stat().st_size)],
        segmentation={"name": "Lovelace seg.dcm"},
        labels={"1": "liver"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    job_id, upload_id = body["job"]["id"], body["upload_id"]
    assert (body["job"]["status"], body["job"]["stage"]) == ("queued", "awaiting_upload")
    prefix = f"uploads/{case.pk}/{upload_id}/"
    assert [u["key"] for u in body["uploads"]] == [f"{prefix}part-0001.zip", f"{prefix}segmentation.dcm"]
    assert [u["segmentation"] for u in body["uploads"]] == [False, True]
    assert all(u["url"] == "http://testserver/uploads/direct" for u in body["uploads"])
    assert all(u["method"] == "POST" for u in body["uploads"])

    # Nothing arrived yet: complete says what is missing.
    early = staff_client.post(body["complete_url"])
    assert early.status_code == 409
    assert early.json()["code"] == "upload_incomplete"
    assert phantom_zip.name in early.json()["detail"]

    assert post_form(body["uploads"][0], phantom_zip.name, phantom_zip.read_bytes()).status_code == 204
    seg = post_form(body["uploads"][1], "Lovelace seg.dcm", phantom.segmentation_path.read_bytes())
    assert seg.status_code == 204
    assert stored_keys("uploads") == [f"{prefix}part-0001.zip", f"{prefix}segmentation.dcm"]

    with django_capture_on_commit_callbacks(execute=True):
        completed = staff_client.post(body["complete_url"])
    assert completed.status_code == 202

    job = staff_client.get(body["job_url"]).json()
    assert job["id"] == job_id
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == 1.0
    study = ImagingStudy.objects.get(case=case)
    assert job["studies"] == [{"id": study.pk, "label": study.label}]
    assert {s["name"] for s in job["structures"]} == set(CaseStructure.objects.values_list("name", flat=True))
    assert "liver" in {s["name"] for s in job["structures"]}

    again = staff_client.post(body["complete_url"])
    assert again.status_code == 200
    assert IngestJob.objects.get().attempts == 1


def test_complete_for_another_case_or_upload_is_404(staff_client, case):
    body = announce(staff_client, case, [("a.zip", 10)]).json()
    other = f"/api/v1/cases/{case.pk + 1}/imaging/uploads/{body['upload_id']}/complete"
    assert staff_client.post(other).status_code == 404
    assert staff_client.post(f"/api/v1/cases/{case.pk}/imaging/uploads/nope/complete").status_code == 404


def test_the_local_upload_target_checks_its_form(staff_client, case, client):
    form = announce(staff_client, case, [("a.zip", 10)]).json()["uploads"][0]
    path = form["url"].removeprefix("http://testserver")

    tampered = {**form["fields"], "key": form["fields"]["key"].replace("part-0001", "../../evil")}
    assert client.post(path, {**tampered, "file": SimpleUploadedFile("a", b"x")}).status_code == 403
    forged = {**form["fields"], "signature": "0" * 64}
    assert client.post(path, {**forged, "file": SimpleUploadedFile("a", b"x")}).status_code == 403
    no_file = client.post(path, form["fields"])
    assert no_file.status_code == 400
    assert "file" in no_file.json()["detail"]
    assert stored_keys("uploads") == []


def test_the_local_upload_target_refuses_expired_and_oversized_files(client, case):
    key = f"uploads/{case.pk}/abc/part-0001.dcm"
    expired = direct_upload.upload_form(key=key, max_bytes=100, expires_in=-1)
    small = direct_upload.upload_form(key=key, max_bytes=4)

    gone = client.post("/uploads/direct", {**expired.fields, "file": SimpleUploadedFile("a", b"xx")})
    too_big = client.post("/uploads/direct", {**small.fields, "file": SimpleUploadedFile("a", b"12345")})

    assert gone.status_code == 403
    assert "expired" in gone.json()["detail"]
    assert too_big.status_code == 413
    assert stored_keys("uploads") == []


# --- the flow against S3 (moto's server) -----------------------------------------------------------


def test_the_whole_flow_against_s3_with_presigned_posts(
    staff_client, case, phantom, s3_storages, s3_client, django_capture_on_commit_callbacks
):
    files = sorted(phantom.series_dir.iterdir())
    body = announce(staff_client, case, [(f.name, f.stat().st_size) for f in files]).json()
    forms = body["uploads"]
    assert len(forms) == len(files)
    assert all(f["url"].endswith(f"/{s3_storages['uploads']}") for f in forms)
    assert all("policy" in f["fields"] for f in forms)
    assert int(forms[0]["expires_at"]) > time.time()

    for form, file in zip(forms, files, strict=True):
        assert post_form(form, file.name, file.read_bytes()).status_code == 204

    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(body["complete_url"]).status_code == 202

    job = IngestJob.objects.get()
    assert job.status == IngestJob.Status.SUCCEEDED, job.error
    assert job.source_bucket == s3_storages["uploads"]
    study = ImagingStudy.objects.get()
    assert study.volume_uri == f"s3://{s3_storages['assets']}/cases/{case.pk}/studies/{study.pk}/volume.vti"
    listed = s3_client.list_objects_v2(Bucket=s3_storages["assets"])["Contents"]
    assert f"cases/{case.pk}/studies/{study.pk}/volume.vti" in {o["Key"] for o in listed}
    uploaded = s3_client.list_objects_v2(Bucket=s3_storages["uploads"])["KeyCount"]
    assert uploaded == len(files)  # kept


def test_the_local_upload_target_is_closed_when_uploads_are_on_s3(client, case, s3_storages):
    form = direct_upload.upload_form(key=f"uploads/{case.pk}/abc/part-0001.dcm", max_bytes=10)
    assert form.url.startswith("http://127.0.0.1")  # a presigned POST to S3, not to us
    response = client.post("/uploads/direct", {"key": "x", "file": SimpleUploadedFile("a", b"x")})
    assert response.status_code == 404


def test_the_endpoints_are_in_the_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert "post" in paths["/api/v1/cases/{case_id}/imaging/uploads"]
    assert "post" in paths["/api/v1/cases/{case_id}/imaging/uploads/{upload_id}/complete"]
    assert "get" in paths["/api/v1/ingest-jobs/{job_id}"]


def test_the_responses_match_the_openapi_schema(staff_client, case, phantom_zip, django_capture_on_commit_callbacks):
    """Real responses validate against the published schema, made strict (no undocumented field)."""
    import copy

    from drf_spectacular.generators import SchemaGenerator
    from openapi_core import OpenAPI
    from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse

    def strict(node):
        if isinstance(node, dict):
            node = {k: strict(v) for k, v in node.items()}
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            return node
        return [strict(v) for v in node] if isinstance(node, list) else node

    openapi = OpenAPI.from_dict(strict(copy.deepcopy(SchemaGenerator().get_schema(request=None, public=True))))

    def check(response, status):
        assert response.status_code == status, response.content
        request = DjangoOpenAPIRequest(response.wsgi_request)
        openapi.validate_response(request, DjangoOpenAPIResponse(response))

    created = announce(staff_client, case, [(phantom_zip.name, phantom_zip.stat().st_size)], labels={"1": "liver"})
    check(created, 201)
    body = created.json()
    check(staff_client.post(body["complete_url"]), 409)
    check(staff_client.post(uploads_url(case.pk), {"files": []}, format="json"), 400)
    too_big = {"files": [{"name": "a.dcm"}, {"name": "b.dcm", "size": 10 * 1024**4}]}
    refused = staff_client.post(uploads_url(case.pk), too_big, format="json")
    check(refused, 400)
    assert refused.json()["errors"]["files"][0].startswith("files[1].size: The file is larger than the upload limit")
    assert post_form(body["uploads"][0], phantom_zip.name, phantom_zip.read_bytes()).status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        check(staff_client.post(body["complete_url"]), 202)
    check(staff_client.post(body["complete_url"]), 200)
    check(staff_client.get(body["job_url"]), 200)
    check(staff_client.get("/api/v1/ingest-jobs/999999"), 404)
