"""hpb.presign gives byte-for-byte the URLs boto3's generate_presigned_url gives, only faster."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config

from hpb import presign

KEYS = [
    "cases/1/structures/liver.vtp",
    "cases/2/a b+c=d&e;f.vtp",
    "cases/3/ünïcødé/volume.vti",
    "cases/4/~tilde/(parens)/$dollar@at:colon,comma!.png",
]


def _client(**kwargs: Any) -> Any:  # boto3 clients are untyped
    config = kwargs.pop("config", Config(signature_version="s3v4"))
    return boto3.client(
        "s3", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret/with+chars", config=config, **kwargs
    )


CLIENTS = {
    "aws us-east-1 virtual host": lambda: _client(region_name="us-east-1"),
    "aws eu-central-1 virtual host": lambda: _client(region_name="eu-central-1"),
    "custom endpoint path style": lambda: _client(
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9000",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    ),
    "session token": lambda: _client(region_name="us-west-2", aws_session_token="FwoGZXIvYXdzE+token/=="),
}


def _presigner(client: Any, bucket: str) -> presign.S3Presigner:
    presigner = presign.presigner_for(client, bucket)
    assert presigner is not None
    return presigner


def _boto_and_ours(client: Any, key: str, expires: int) -> tuple[str, str]:
    expected = client.generate_presigned_url(
        "get_object", Params={"Bucket": "hpb-assets", "Key": key}, ExpiresIn=expires
    )
    signed_at = dt.datetime.strptime(parse_qs(urlsplit(expected).query)["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
    presigner = presign.presigner_for(client, "hpb-assets")
    assert presigner is not None
    return expected, presigner.url(key, expires, now=signed_at.replace(tzinfo=dt.UTC))


@pytest.mark.parametrize("client_name", CLIENTS)
@pytest.mark.parametrize("key", KEYS)
def test_urls_equal_boto3s(client_name, key):
    expected, ours = _boto_and_ours(CLIENTS[client_name](), key, 900)
    assert ours == expected


def test_expiry_is_signed_in():
    expected, ours = _boto_and_ours(_client(region_name="us-east-1"), KEYS[0], 37)
    assert ours == expected
    assert "X-Amz-Expires=37" in ours


def test_a_different_secret_gives_a_different_signature():
    """Guard against a comparison that cannot fail: the signature really depends on the secret."""
    client = _client(region_name="us-east-1")
    other = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="another-secret",
        config=Config(signature_version="s3v4"),
    )
    now = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    ours = _presigner(client, "b").url("k", 60, now=now)
    theirs = _presigner(other, "b").url("k", 60, now=now)
    assert ours.split("X-Amz-Signature=")[0] == theirs.split("X-Amz-Signature=")[0]
    assert ours != theirs


def test_unsigned_clients_are_left_to_boto3():
    from botocore import UNSIGNED

    client = boto3.client("s3", region_name="us-east-1", config=Config(signature_version=UNSIGNED))
    assert presign.presigner_for(client, "hpb-assets") is None


def test_storage_signed_urls_equal_django_storages_urls(settings, s3_storages, db):
    """Through hpb.storage on moto's S3 the URL is what django-storages' own url() would give."""
    from hpb import storage

    settings.STORAGE_URL_WINDOW_SECONDS = 0  # exact lifetimes, signed now (windowed URLs: test_url_windows.py)

    reference = storage.save("assets", "cases/9/mesh ü.vtp", b"mesh")
    assets: Any = storage.get_storage("assets")  # django-storages' S3Storage, untyped
    for _ in range(5):  # both must be made within the same second to compare signatures
        ours = storage.signed_url(reference)
        assert ours is not None
        theirs = assets.url("cases/9/mesh ü.vtp", expire=900)
        if parse_qs(urlsplit(ours).query)["X-Amz-Date"] == parse_qs(urlsplit(theirs).query)["X-Amz-Date"]:
            break
    assert ours == theirs


def test_custom_domains_are_left_to_django_storages(s3_storages, db, settings):
    from hpb import storage

    settings.STORAGES = {
        **settings.STORAGES,
        "assets": {
            **settings.STORAGES["assets"],
            "OPTIONS": {**settings.STORAGES["assets"]["OPTIONS"], "custom_domain": "cdn.example.org"},
        },
    }
    url = storage.signed_url(f"s3://{s3_storages['assets']}/cases/1/mesh.vtp")
    assert url is not None
    assert url.startswith("https://cdn.example.org/cases/1/mesh.vtp")
