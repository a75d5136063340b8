"""The listing a viewer makes of the bucket, anonymously: on moto's S3 server over HTTP (production's
shape) and on `serve_viewer_bucket` over the local folder (make run's)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from hpb import storage
from imaging.services import bundles, bundles_bucket
from tests.viewer.conftest import make_bundle_case
from tests.viewer.viewer_client import AnonymousBucket, ViewedCase

pytestmark = pytest.mark.django_db


def _what_the_viewer_keeps(case: ViewedCase) -> set[str]:
    return {
        o
        for o in case.objects
        if o.endswith(".vti")
        or (o.startswith("segmentations/") and o.endswith(".vtp"))
        or (o.startswith("clinical_files/") and o.endswith(".pdf"))
    }


def _check(bucket: AnonymousBucket, published: list[str]) -> list[ViewedCase]:
    viewed = bucket.cases(bundles.base_prefix())
    assert [c.folder for c in viewed] == sorted(published)
    for case in viewed:
        assert set(case.objects) == _what_the_viewer_keeps(case) | {"manifest.json"}
        named = {case.manifest["volume"]["output"], *case.manifest["meshes"].values()}
        named |= {d["filename"] for d in case.manifest["documents"]}
        assert named == _what_the_viewer_keeps(case)  # every file is named, every name is a file
        for path in named:
            response = bucket.get(f"/{bundles.folder_prefix(case.folder)}{path}")
            assert response.status_code == 200 and len(response.content) > 0, path
    # Small pages: the continuation tokens lead through the same listing.
    assert [(c.folder, sorted(c.objects)) for c in bucket.cases(bundles.base_prefix(), max_keys=2)] == [
        (c.folder, sorted(c.objects)) for c in viewed
    ]
    return viewed


def _public_read(s3_client: Any, bucket: str) -> None:
    """The production bucket policy's shape (terraform/s3_viewer.tf): anyone may read the case prefix."""
    prefix = bundles.base_prefix()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}/*",
            },
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/", f"{prefix}/*"]}},
            },
        ],
    }
    s3_client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def test_the_viewer_lists_and_reads_moto_s3_anonymously(
    viewer_s3: dict[str, str], s3_client: Any, moto_server: str
) -> None:
    made = [make_bundle_case(), make_bundle_case(mrn="MRN-77341")]
    folders = [bundles.sync_bundle(case_id=m.case.pk).folder for m in made]
    _public_read(s3_client, viewer_s3["viewer"])
    port = urlsplit(moto_server).port
    bucket = AnonymousBucket(address=moto_server, host=f"{viewer_s3['viewer']}.s3.localhost:{port}")

    viewed = _check(bucket, folders)

    manifest = bucket.get(f"/{bundles.folder_prefix(viewed[0].folder)}manifest.json")
    assert manifest.headers["Cache-Control"] == "no-cache"
    mesh = bucket.get(f"/{bundles.folder_prefix(viewed[0].folder)}{next(iter(viewed[0].manifest['meshes'].values()))}")
    assert mesh.headers["Cache-Control"] == "public, max-age=31536000, immutable" and mesh.headers["ETag"]
    # Nothing outside the case prefix is listed or read anonymously.
    s3_client.put_object(Bucket=viewer_s3["viewer"], Key="internal/notes.txt", Body=b"not public")
    assert bucket.get("/internal/notes.txt").status_code == 403


@pytest.fixture
def local_bucket(viewer_local: Any) -> Iterator[AnonymousBucket]:
    root = Path(storage.get_storage("viewer").path("."))
    server = bundles_bucket.BucketServer(("127.0.0.1", 0), bundles_bucket.FolderBucket(root, "hpb"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield AnonymousBucket(address=f"http://127.0.0.1:{port}", host=f"hpb.s3.localhost:{port}")
    finally:
        server.shutdown()
        server.server_close()


def test_the_viewer_lists_and_reads_the_local_bucket_server(local_bucket: AnonymousBucket) -> None:
    made = [make_bundle_case(), make_bundle_case(mrn="MRN-77341")]
    folders = [bundles.sync_bundle(case_id=m.case.pk).folder for m in made]

    viewed = _check(local_bucket, folders)

    case = viewed[0]
    manifest = local_bucket.get(f"/{bundles.folder_prefix(case.folder)}manifest.json", {})
    assert manifest.headers["Access-Control-Allow-Origin"] == "*" and manifest.headers["Cache-Control"] == "no-cache"
    etag = manifest.headers["ETag"]
    again = requests.get(
        local_bucket.address + f"/{bundles.folder_prefix(case.folder)}manifest.json",
        headers={"Host": local_bucket.host, "If-None-Match": etag, "Origin": "http://localhost:5173"},
        timeout=10,
    )
    assert again.status_code == 304 and again.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert local_bucket.get("/../../etc/passwd").status_code == 404
    assert local_bucket.get(f"/{bundles.base_prefix()}/../db.sqlite3").status_code == 404
    other = requests.get(
        local_bucket.address + "/", params={"list-type": "2"}, headers={"Host": "other.s3.localhost"}, timeout=10
    )
    assert other.status_code == 404 and b"NoSuchBucket" in other.content
