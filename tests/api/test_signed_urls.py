"""Every *_uri is a short-lived URL that really fetches the bytes; raw references never leave the server."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.api.conftest import CaseWithFiles, make_case_with_files

pytestmark = pytest.mark.django_db


def _all_urls(body: dict) -> list[str]:
    urls = [d["storage_uri"] for d in body["documents"]]
    urls += [s[k] for s in body["imaging_studies"] for k in ("volume_uri", "preview_uri")]
    urls += [s["mesh_uri"] for s in body["structures"]]
    return urls


def _expected_bytes(data: CaseWithFiles) -> list[bytes]:
    files = data.files
    expected = [files[d.storage_uri] for d in sorted(data.documents, key=lambda d: (d.created_at, d.pk))]
    expected += [files[data.study.volume_uri], files[data.study.preview_uri]]
    expected += [files[s.mesh_uri] for s in sorted(data.structures, key=lambda s: (s.name, s.pk))]
    return expected


def _assert_no_raw_reference(content: bytes) -> None:
    assert b"storage://" not in content
    assert b"s3://" not in content


def test_filesystem_urls_are_signed_links_that_serve_the_bytes(user_client, settings):
    settings.STORAGE_URL_WINDOW_SECONDS = 0  # exact lifetimes, signed now (windowed URLs: test_url_windows.py)
    data = make_case_with_files(n_documents=2, n_structures=2)
    response = user_client.get(f"/api/v1/cases/{data.case.pk}")
    _assert_no_raw_reference(response.content)
    urls = _all_urls(response.json())
    assert len(urls) == 6
    now = int(time.time())
    for url, expected in zip(urls, _expected_bytes(data), strict=True):
        parsed = urlparse(url)
        assert parsed.scheme == "http"
        assert parsed.netloc == "testserver"
        assert parsed.path.startswith("/files/")
        query = parse_qs(parsed.query)
        assert now < int(query["expires"][0]) <= now + settings.STORAGE_URL_EXPIRY_SECONDS + 5
        fetched = user_client.get(url)
        assert fetched.status_code == 200, url
        assert b"".join(fetched.streaming_content) == expected


def test_filesystem_links_are_refused_once_tampered(user_client):
    data = make_case_with_files(n_documents=1, n_structures=1)
    url = user_client.get(f"/api/v1/cases/{data.case.pk}").json()["structures"][0]["mesh_uri"]
    assert user_client.get(url.replace("mesh-0", "mesh-1")).status_code == 403
    assert user_client.get(url.replace("signature=", "signature=0")).status_code == 403


def test_s3_urls_are_presigned_gets_that_serve_the_bytes(settings, user_client, s3_storages):
    settings.STORAGE_URL_WINDOW_SECONDS = 0  # exact lifetimes, signed now (windowed URLs: test_url_windows.py)
    data = make_case_with_files(n_documents=2, n_structures=3)
    assert all(ref.startswith("s3://") for ref in data.files)
    response = user_client.get(f"/api/v1/cases/{data.case.pk}")
    _assert_no_raw_reference(response.content)
    for bucket in s3_storages.values():
        # Only inside the presigned URL's path, never as an s3:// address.
        assert f"s3://{bucket}".encode() not in response.content
    urls = _all_urls(response.json())
    assert len(urls) == 7
    for url, expected in zip(urls, _expected_bytes(data), strict=True):
        query = parse_qs(urlparse(url).query)
        assert query["X-Amz-Expires"] == ["900"]
        assert "X-Amz-Signature" in query
        fetched = requests.get(url, timeout=10)
        assert fetched.status_code == 200, url
        assert fetched.content == expected


def test_s3_lightweight_mode_leaves_out_only_the_volume(user_client, s3_storages):
    data = make_case_with_files(n_documents=1, n_structures=1, lightweight=True)
    body = user_client.get(f"/api/v1/cases/{data.case.pk}?lightweight=true").json()
    assert body["imaging_studies"][0]["volume_uri"] is None
    assert (
        requests.get(body["structures"][0]["mesh_uri"], timeout=10).content == data.files[data.structures[0].mesh_uri]
    )


def test_presign_expiry_follows_the_setting(user_client, s3_storages, settings):
    settings.STORAGE_URL_WINDOW_SECONDS = 0  # exact lifetimes, signed now (windowed URLs: test_url_windows.py)
    settings.STORAGE_URL_EXPIRY_SECONDS = 120
    data = make_case_with_files(n_documents=1, n_structures=1)
    body = user_client.get(f"/api/v1/cases/{data.case.pk}").json()
    assert parse_qs(urlparse(body["documents"][0]["storage_uri"]).query)["X-Amz-Expires"] == ["120"]
    assert user_client.get("/api/v1/config").json()["presign_expiry_seconds"] == 120


def test_unusable_references_become_null_not_raw(user_client):
    data = make_case_with_files(n_documents=1, n_structures=1)
    data.structures[0].mesh_uri = "s3://bucket-nobody-configured/x.vtp"
    data.structures[0].save()
    data.documents[0].storage_uri = "ftp://elsewhere/file.txt"
    data.documents[0].save()
    response = user_client.get(f"/api/v1/cases/{data.case.pk}")
    _assert_no_raw_reference(response.content)
    assert b"ftp://" not in response.content
    body = response.json()
    assert body["structures"][0]["mesh_uri"] is None
    assert body["documents"][0]["storage_uri"] is None
