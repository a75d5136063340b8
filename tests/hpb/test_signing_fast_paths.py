"""The cached shortcuts in hpb.storage produce exactly what the slow, obvious code produced."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils.crypto import salted_hmac

from hpb import storage

KEYS = ["cases/1/volume.vti", "a b/ü+c=d&e;f.vtp", "x/~tilde/(p)/$@:,!.png", "reports/100%.txt"]


@pytest.mark.parametrize("key", KEYS)
def test_file_url_path_equals_reverse(key):
    for alias in ("documents", "assets", "uploads"):
        assert storage.file_url_path(alias, key) == reverse("hpb:signed-file", kwargs={"alias": alias, "key": key})


@pytest.mark.parametrize("key", KEYS)
def test_file_signature_equals_salted_hmac(key, settings):
    expected = salted_hmac("hpb.storage.signed-file-url", f"assets\n{key}\n123", algorithm="sha256").hexdigest()
    assert storage.file_signature("assets", key, 123) == expected
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789abcdef"
    assert storage.file_signature("assets", key, 123) != expected


def test_signed_url_uses_the_request_host_and_script_prefix(settings):
    request = RequestFactory().get("/api/v1/cases/1", HTTP_HOST="localhost:8000", secure=True)
    url = storage.signed_url("storage://assets/cases/1/mesh.vtp", request=request)
    assert url is not None
    assert url.startswith("https://localhost:8000/files/assets/cases/1/mesh.vtp?expires=")
    # Without a request the configured public base URL is used.
    plain = storage.signed_url("storage://assets/k.vtp")
    assert plain is not None
    assert plain.startswith("http://testserver/files/assets/k.vtp?")


def test_signed_links_verify(client, db):
    reference = storage.save("assets", "fast/path ü.vtp", b"bytes")
    url = storage.signed_url(reference)
    assert url is not None
    response = client.get(url.removeprefix("http://testserver"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"bytes"
