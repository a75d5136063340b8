"""Signed URLs of S3 storages against moto's standalone server over HTTP.

moto serves presigned GETs but checks neither signatures nor expiry, so the properties that make a
presigned URL short-lived and unforgeable are verified here by recomputing its SigV4 signature with
botocore's own signer: the URL's signature must match its parameters exactly, and any change to the
key, the expiry or the credentials must give a different signature (which S3 would refuse).
"""

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import botocore.auth
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hpb import storage
from tests.conftest import MOTO_ACCESS_KEY, MOTO_SECRET_KEY

pytestmark = pytest.mark.django_db


def _url(reference: str, **kwargs: Any) -> str:
    """``storage.signed_url`` of a usable reference (a string, then)."""
    url = storage.signed_url(reference, **kwargs)
    assert url is not None, reference
    return url


def _params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _expected_signature(
    monkeypatch: pytest.MonkeyPatch,
    *,
    endpoint: str,
    bucket: str,
    key: str,
    amz_date: str,
    expires: int,
    secret: str = MOTO_SECRET_KEY,
) -> str:
    """Sign GET <endpoint>/<bucket>/<key> with botocore's S3 query signer at the URL's own timestamp."""
    signing_time = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: signing_time)
    request = AWSRequest(method="GET", url=f"{endpoint}/{bucket}/{quote(key)}")
    signer = botocore.auth.S3SigV4QueryAuth(Credentials(MOTO_ACCESS_KEY, secret), "s3", "us-east-1", expires=expires)
    signer.add_auth(request)
    return _params(request.url)["X-Amz-Signature"]


def test_presigned_get_fetches_the_object(s3_storages):
    reference = storage.save("documents", "documents/ct/ct-report.txt", b"portal venous phase")
    assert reference == f"s3://{s3_storages['documents']}/documents/ct/ct-report.txt"
    url = _url(reference)
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"portal venous phase"


def test_presigned_url_carries_the_configured_expiry(settings, s3_storages):
    settings.STORAGE_URL_WINDOW_SECONDS = 0  # exact lifetimes, signed now (windowed URLs: test_url_windows.py)
    reference = storage.save("assets", "cases/1/volume.vti", b"vti")
    assert _params(_url(reference))["X-Amz-Expires"] == "900"
    settings.STORAGE_URL_EXPIRY_SECONDS = 300
    assert _params(_url(reference))["X-Amz-Expires"] == "300"
    assert _params(_url(reference, expires_in=60))["X-Amz-Expires"] == "60"


def test_presigned_url_is_sigv4_with_a_scoped_credential(s3_storages):
    reference = storage.save("assets", "cases/1/mesh.vtp", b"vtp")
    params = _params(_url(reference))
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-SignedHeaders"] == "host"
    amz_date = params["X-Amz-Date"]
    assert params["X-Amz-Credential"] == f"{MOTO_ACCESS_KEY}/{amz_date[:8]}/us-east-1/s3/aws4_request"
    signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    # Signed now (so it expires X-Amz-Expires seconds from now), not at some fixed or future time.
    assert abs((dt.datetime.now(dt.UTC) - signed_at).total_seconds()) < 300
    assert len(params["X-Amz-Signature"]) == 64


def test_signature_binds_key_expiry_and_secret(monkeypatch, s3_storages, moto_server):
    bucket = s3_storages["assets"]
    key = "cases/7/structures/liver.vtp"
    url = _url(storage.save("assets", key, b"mesh"))
    params = _params(url)
    assert urlsplit(url).path == f"/{bucket}/{key}"
    common = {"endpoint": moto_server, "bucket": bucket, "amz_date": params["X-Amz-Date"]}
    expires = int(params["X-Amz-Expires"])

    assert _expected_signature(monkeypatch, key=key, expires=expires, **common) == params["X-Amz-Signature"]
    changes: list[dict[str, Any]] = [
        {"key": "cases/7/structures/tumour.vtp", "expires": expires},
        {"key": key, "expires": expires + 1},
        {"key": key, "expires": 604800},
        {"key": key, "expires": expires, "secret": "another-secret"},
    ]
    for changed in changes:
        assert _expected_signature(monkeypatch, **common, **changed) != params["X-Amz-Signature"], changed
    later = {**common, "amz_date": "20990101T000000Z"}
    assert _expected_signature(monkeypatch, key=key, expires=expires, **later) != params["X-Amz-Signature"]


def test_references_to_unknown_buckets_are_not_signed(s3_storages):
    assert storage.signed_url("s3://someone-elses-bucket/secret.txt") is None
    assert storage.signed_url(f"s3://{s3_storages['assets']}/../x") is None


def test_save_overwrites_the_same_key_on_s3(s3_storages, s3_client):
    storage.save("documents", "documents/x/report.txt", b"one")
    reference = storage.save("documents", "documents/x/report.txt", b"two")
    listed = s3_client.list_objects_v2(Bucket=s3_storages["documents"], Prefix="documents/x/")
    assert [obj["Key"] for obj in listed["Contents"]] == ["documents/x/report.txt"]
    assert requests.get(_url(reference), timeout=10).content == b"two"
