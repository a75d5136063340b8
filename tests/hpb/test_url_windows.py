"""Windowed signed URLs: the same URL for the same object within a window, still expiring; ETag and
Cache-Control on the files served, on the filesystem storage and on moto's S3 over HTTP."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from hpb import storage

WINDOW = 300
TTL = 900
T0 = 1_900_000_200  # a window boundary (a multiple of 300)


@pytest.fixture(autouse=True)
def _window(settings: Any) -> None:
    settings.STORAGE_URL_WINDOW_SECONDS = WINDOW
    settings.STORAGE_URL_EXPIRY_SECONDS = TTL


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_the_window_signs_at_its_start_for_the_lifetime_plus_a_window() -> None:
    for now in (T0, T0 + 1, T0 + WINDOW - 1):
        window = storage.signing_window(TTL, now=now)
        assert (window.signed_at, window.lifetime) == (T0, TTL + WINDOW)
        assert now + TTL <= window.expires_at <= now + TTL + WINDOW
    assert storage.signing_window(TTL, now=T0 + WINDOW).signed_at == T0 + WINDOW


def test_window_zero_signs_now_for_exactly_the_lifetime(settings: Any) -> None:
    settings.STORAGE_URL_WINDOW_SECONDS = 0
    window = storage.signing_window(TTL, now=T0 + 17)
    assert (window.signed_at, window.expires_at) == (T0 + 17, T0 + 17 + TTL)


@pytest.mark.django_db
def test_filesystem_links_are_stable_within_a_window_and_still_expire(local_storage: Any) -> None:
    reference = storage.save("assets", "cases/1/studies/1/volume.vti", b"vti bytes")

    urls = {storage.signed_url(reference, now=now) for now in (T0, T0 + 120, T0 + WINDOW - 1)}
    later = storage.signed_url(reference, now=T0 + WINDOW)

    assert len(urls) == 1 and later not in urls
    (url,) = urls
    assert url is not None
    query = _query(url)
    assert int(query["expires"]) == T0 + TTL + WINDOW
    key = "cases/1/studies/1/volume.vti"
    assert storage.verify_file_signature("assets", key, query["expires"], query["signature"], now=T0 + TTL + WINDOW)
    assert not storage.verify_file_signature(
        "assets", key, query["expires"], query["signature"], now=T0 + TTL + WINDOW + 1
    )


@pytest.mark.django_db
def test_served_files_carry_an_etag_a_matching_lifetime_and_answer_revalidation(
    client: Any, local_storage: Any
) -> None:
    reference = storage.save("viewer", "liverCases/case-x/segmentations/liver.vtp", b"<VTKFile/>")
    url = storage.signed_url(reference)
    assert url is not None
    path = url.removeprefix("http://testserver")
    expires = int(_query(url)["expires"])

    first = client.get(path)
    assert first.status_code == 200 and b"".join(first.streaming_content) == b"<VTKFile/>"
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    max_age = int(first["Cache-Control"].removeprefix("private, max-age="))
    assert TTL - 5 <= max_age <= expires - int(time.time()) + 1  # never longer than the link is valid
    assert first["Last-Modified"]

    again = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and not again.content

    time.sleep(0.01)
    storage.save("viewer", "liverCases/case-x/segmentations/liver.vtp", b"<VTKFile>changed</VTKFile>")
    changed = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert b"".join(changed.streaming_content) == b"<VTKFile>changed</VTKFile>"


@pytest.mark.django_db
def test_s3_presigned_urls_are_stable_within_a_window_and_carry_their_lifetime(s3_storages: Any) -> None:
    reference = storage.save("assets", "cases/2/studies/3/volume.vti", b"vti on s3")

    urls = {storage.signed_url(reference, now=now) for now in (T0, T0 + 200, T0 + WINDOW - 1)}
    later = storage.signed_url(reference, now=T0 + WINDOW)

    assert len(urls) == 1 and later not in urls
    (url,) = urls
    assert url is not None
    query = _query(url)
    assert query["X-Amz-Date"] == dt.datetime.fromtimestamp(T0, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    assert int(query["X-Amz-Expires"]) == TTL + WINDOW  # valid until T0 + TTL + WINDOW: it expires


@pytest.mark.django_db
def test_s3_objects_answer_with_an_etag_and_a_cache_lifetime_of_the_signed_url(s3_storages: Any) -> None:
    reference = storage.save("assets", "cases/2/studies/3/structures/liver.vtp", b"mesh on s3")
    url = storage.signed_url(reference)
    assert url is not None

    response = requests.get(url, timeout=10)

    assert response.status_code == 200 and response.content == b"mesh on s3"
    assert response.headers["ETag"]
    assert response.headers["Cache-Control"] == f"private, max-age={TTL}"
    assert storage.signed_url(reference) == url  # the next API call hands out the same URL (same second)
