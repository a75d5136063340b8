"""Smoke checks that the storage layer and the moto fixture work end to end."""

import requests

from hpb import storage


def test_filesystem_signed_url_serves_the_file(client, db):
    reference = storage.save("documents", "smoke/hello.txt", b"hello")
    assert reference == "storage://documents/smoke/hello.txt"
    url = storage.signed_url(reference)
    response = client.get(url.removeprefix("http://testserver"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"hello"


def test_s3_signed_url_is_a_presigned_get(s3_storages, db):
    reference = storage.save("assets", "smoke/mesh.vtp", b"mesh-bytes")
    assert reference == f"s3://{s3_storages['assets']}/smoke/mesh.vtp"
    url = storage.signed_url(reference)
    assert "X-Amz-Signature=" in url
    assert "X-Amz-Expires=900" in url
    assert requests.get(url, timeout=5).content == b"mesh-bytes"
