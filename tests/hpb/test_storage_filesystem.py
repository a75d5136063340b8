"""Signed links to filesystem storages: valid links serve the file; anything tampered, expired or
outside the storage root is refused, and no directory is ever listed."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.test import Client

from hpb import storage

if TYPE_CHECKING:  # what the test client returns
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db

REFUSED = "This link is invalid or has expired"


def _path_and_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def _url(reference: str | None, **kwargs: Any) -> str:
    """``storage.signed_url`` of a usable reference (a string, then)."""
    url = storage.signed_url(reference, **kwargs)
    assert url is not None, reference
    return url


def _get(client: Client, path: str, query: dict[str, str]) -> TestResponse:
    return client.get(f"{path}?{urlencode(query)}")


def _body(response: HttpResponseBase) -> bytes:
    if isinstance(response, StreamingHttpResponse):
        return b"".join(cast("Iterator[bytes]", response.streaming_content))  # a sync view streams a file
    assert isinstance(response, HttpResponse)
    return response.content


@pytest.fixture
def stored(local_storage):
    return storage.save("documents", "reports/ct-report.txt", b"Segment VI lesion, 2.4 cm.")


def test_valid_link_serves_the_file(client, stored):
    url = _url(stored)
    assert url.startswith("http://testserver/files/documents/reports/ct-report.txt?")
    response = client.get(url.removeprefix("http://testserver"))
    assert response.status_code == 200
    assert _body(response) == b"Segment VI lesion, 2.4 cm."
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"].startswith("private")


def test_link_expires_after_the_configured_lifetime(settings, stored):
    settings.STORAGE_URL_WINDOW_SECONDS = 0  # exact lifetimes, signed now (windowed URLs: test_url_windows.py)
    settings.STORAGE_URL_EXPIRY_SECONDS = 120
    before = int(time.time())
    _, query = _path_and_query(_url(stored))
    after = int(time.time())
    assert before + 120 <= int(query["expires"]) <= after + 120


def test_link_built_with_a_request_uses_its_host(rf, settings, stored):
    settings.ALLOWED_HOSTS = ["hpb.example.org"]
    request = rf.get("/", HTTP_HOST="hpb.example.org")
    assert _url(stored, request=request).startswith("http://hpb.example.org/files/documents/")


def test_expired_link_is_refused(client, stored):
    path, query = _path_and_query(_url(stored, expires_in=-5))
    response = _get(client, path, query)
    assert response.status_code == 403
    assert REFUSED in response.json()["detail"]


def test_signature_covers_the_expiry_time(client, stored):
    path, query = _path_and_query(_url(stored))
    for expires in (str(int(query["expires"]) + 3600), str(int(query["expires"]) - 1), "never", ""):
        response = _get(client, path, {**query, "expires": expires})
        assert response.status_code == 403, expires


def test_tampered_or_missing_signature_is_refused(client, stored):
    path, query = _path_and_query(_url(stored))
    flipped = query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1")
    for signature in (flipped, query["signature"].upper(), "", "x" * 64):
        assert _get(client, path, {**query, "signature": signature}).status_code == 403
    assert _get(client, path, {"expires": query["expires"]}).status_code == 403
    assert client.get(path).status_code == 403


def test_signature_covers_the_key_and_the_storage(client, local_storage, stored):
    storage.save("documents", "reports/other.txt", b"another patient's report")
    storage.save("assets", "reports/ct-report.txt", b"an asset with the same key")
    path, query = _path_and_query(_url(stored))
    other_key = path.replace("ct-report.txt", "other.txt")
    other_alias = path.replace("/files/documents/", "/files/assets/")
    for tampered in (other_key, other_alias):
        response = _get(client, tampered, query)
        assert response.status_code == 403
        assert b"another" not in response.content


def test_verify_file_signature_checks_time_against_now():
    expires = 1_000_000
    signature = storage.file_signature("documents", "a.txt", expires)
    assert storage.verify_file_signature("documents", "a.txt", str(expires), signature, now=expires)
    assert not storage.verify_file_signature("documents", "a.txt", str(expires), signature, now=expires + 1)


@pytest.mark.parametrize(
    ("url_key", "signed_key"),
    [
        ("../assets/secret.txt", "../assets/secret.txt"),
        ("%2e%2e/assets/secret.txt", "../assets/secret.txt"),
        ("reports/../../assets/secret.txt", "reports/../../assets/secret.txt"),
        ("/assets/secret.txt", "/assets/secret.txt"),
        ("..%5cassets%5csecret.txt", "..\\assets\\secret.txt"),
    ],
)
def test_path_traversal_is_never_served_even_with_a_valid_signature(client, local_storage, url_key, signed_key):
    storage.save("assets", "secret.txt", b"TOP SECRET asset")
    (local_storage / "outside.txt").write_bytes(b"TOP SECRET outside")
    expires = int(time.time()) + 60
    # A signature an attacker could never forge, made here to show that even a valid one cannot escape.
    signature = storage.file_signature("documents", signed_key, expires)
    response = client.get(f"/files/documents/{url_key}?{urlencode({'expires': expires, 'signature': signature})}")
    assert response.status_code in (403, 404)
    assert b"TOP SECRET" not in _body(response)


@pytest.mark.parametrize("key", ["reports", "reports/", "."])
def test_directories_are_never_listed(client, stored, key):
    expires = int(time.time()) + 60
    signature = storage.file_signature("documents", key, expires)
    response = client.get(f"/files/documents/{key}?{urlencode({'expires': expires, 'signature': signature})}")
    assert response.status_code in (403, 404)
    assert b"ct-report" not in _body(response)


@pytest.mark.parametrize("path", ["/files/", "/files/documents/", "/files/documents"])
def test_storage_roots_have_no_listing(client, stored, path):
    response = client.get(path)
    assert response.status_code == 404
    assert b"ct-report" not in response.content


def test_unknown_storage_alias_is_not_found(client, local_storage):
    (local_storage / "default").mkdir(parents=True)
    (local_storage / "default" / "x.txt").write_bytes(b"default storage file")
    expires = int(time.time()) + 60
    for alias in ("default", "staticfiles", "secrets"):
        signature = storage.file_signature(alias, "x.txt", expires)
        response = client.get(f"/files/{alias}/x.txt?{urlencode({'expires': expires, 'signature': signature})}")
        assert response.status_code == 404


def test_valid_link_to_a_missing_file_is_not_found(client, local_storage):
    path, query = _path_and_query(_url("storage://documents/reports/gone.txt"))
    assert _get(client, path, query).status_code == 404


def test_only_get_is_allowed(client, stored):
    path, query = _path_and_query(_url(stored))
    assert client.post(f"{path}?{urlencode(query)}").status_code == 405


def test_unusable_references_get_no_url(local_storage):
    assert storage.signed_url(None) is None
    assert storage.signed_url("") is None
    assert storage.signed_url("ftp://host/file") is None
    assert storage.signed_url("storage://nowhere/file") is None
    assert storage.signed_url("storage://documents/../etc/passwd") is None
    assert storage.signed_url("bare/key.txt") is None
    assert _url("bare/key.txt", default_alias="documents").startswith("http://testserver/files/documents/")


def test_save_overwrites_the_same_key(local_storage):
    first = storage.save("documents", "a/b.txt", b"one")
    second = storage.save("documents", "a/b.txt", b"two")
    assert first == second == "storage://documents/a/b.txt"
    assert sorted(p.name for p in (local_storage / "documents" / "a").iterdir()) == ["b.txt"]
    with storage.open_reference(second) as handle:
        assert handle.read() == b"two"
    storage.delete(second)
    storage.delete(second)  # deleting twice is not an error
    assert not (local_storage / "documents" / "a" / "b.txt").exists()


class _BrokenUpload(io.BytesIO):
    """A source that fails half way, like a dropped connection while copying an upload."""

    def read(self, size=-1):
        chunk = super().read(4)
        if not chunk or self.tell() > 8:
            raise OSError("connection reset while reading the source")
        return chunk

    def chunks(self, chunk_size=None):
        while True:
            yield self.read()


def test_a_failed_overwrite_keeps_the_previous_file_whole(local_storage):
    reference = storage.save("assets", "cases/1/volume.vti", b"previous volume")
    with pytest.raises(OSError, match="connection reset"):
        storage.save("assets", "cases/1/volume.vti", _BrokenUpload(b"new volume bytes that never finish"))
    with storage.open_reference(reference) as handle:
        assert handle.read() == b"previous volume"
    assert [p.name for p in (local_storage / "assets" / "cases" / "1").iterdir()] == ["volume.vti"]
