"""Upload forms handed to API clients: an S3 presigned POST, or locally a signed form to our own view.

Both have the same shape (`url`, `fields`): the client POSTs `multipart/form-data` with every field
and then the file as `file`, so one client works against S3 and against `make run`. Each form allows
exactly one key, chosen by the server (a neutral name: no patient identifier reaches the bucket),
and a maximum size.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import salted_hmac

from hpb import storage
from imaging.services.jobs import UPLOADS
from imaging.services.storage_io import s3_backend

_SIGNING_SALT = "imaging.direct-upload"


@dataclass(frozen=True)
class UploadForm:
    key: str
    url: str
    fields: dict[str, str]
    max_bytes: int
    expires_at: int  # unix time
    method: str = "POST"


class _AbsoluteURIs(Protocol):
    """What the form needs of a request (Django's or DRF's): the server's own address."""

    def build_absolute_uri(self, location: str | None = None) -> str: ...


def upload_form(
    *, key: str, max_bytes: int, expires_in: int | None = None, request: _AbsoluteURIs | None = None
) -> UploadForm:
    ttl = expires_in if expires_in is not None else settings.INGEST_UPLOAD_URL_EXPIRY_SECONDS
    expires_at = int(time.time()) + ttl
    if storage.is_s3(UPLOADS):
        client = s3_backend(UPLOADS).connection.meta.client
        post = client.generate_presigned_post(
            Bucket=storage.bucket_name(UPLOADS),
            Key=key,
            Conditions=[["content-length-range", 0, max_bytes]],
            ExpiresIn=ttl,
        )
        return UploadForm(
            key=key, url=post["url"], fields=dict(post["fields"]), max_bytes=max_bytes, expires_at=expires_at
        )
    fields = {
        "key": key,
        "expires": str(expires_at),
        "max_bytes": str(max_bytes),
        "signature": _signature(key=key, expires=str(expires_at), max_bytes=str(max_bytes)),
    }
    path = reverse("imaging-direct-upload")
    url = request.build_absolute_uri(path) if request is not None else settings.PUBLIC_BASE_URL.rstrip("/") + path
    return UploadForm(key=key, url=url, fields=fields, max_bytes=max_bytes, expires_at=expires_at)


def _signature(*, key: str, expires: str, max_bytes: str) -> str:
    return salted_hmac(_SIGNING_SALT, f"{key}\n{expires}\n{max_bytes}", algorithm="sha256").hexdigest()


def verify_form(*, key: str, expires: str, max_bytes: str, signature: str, now: float | None = None) -> bool:
    """True when the form's fields are ours, untampered and unexpired (constant-time comparison)."""
    try:
        if int(expires) < int(now if now is not None else time.time()):
            return False
        int(max_bytes)
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(_signature(key=key, expires=expires, max_bytes=max_bytes), signature or "")
