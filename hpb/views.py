"""Views of the shared kernel: locally signed file downloads and the health check."""

import mimetypes
import os
import time

from django.core.exceptions import SuspiciousFileOperation
from django.db import connection
from django.http import FileResponse, HttpRequest, HttpResponseNotModified, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.http import http_date
from django.views.decorators.http import require_GET, require_safe

from hpb import storage


def _refuse(status: int, message: str) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


@require_GET
def serve_signed_file(request: HttpRequest, alias: str, key: str) -> HttpResponseBase:
    """Serve one file of a filesystem storage to the holder of a valid, unexpired signed link.

    The signature is the credential (like an S3 presigned URL), so the viewer can fetch volumes and
    meshes without cookies. Tampered or expired links get 403; nothing outside the storage root and
    no directory is ever served. Responses carry an ETag (a revalidation answers 304) and may be cached
    privately until the link expires: signed links are windowed (hpb.storage), so the same object
    keeps the same URL, and the browser's cache, for a while.
    """
    if alias not in storage.STORAGE_ALIASES or storage.is_s3(alias):
        return _refuse(404, "Not found.")
    if not storage.verify_file_signature(alias, key, request.GET.get("expires", ""), request.GET.get("signature", "")):
        return _refuse(403, "This link is invalid or has expired; ask the API for a fresh one.")
    try:
        path = storage.get_storage(alias).path(storage.parse_reference(key, default_alias=alias).key)
    except (SuspiciousFileOperation, storage.InvalidReferenceError):
        return _refuse(403, "This link is invalid or has expired; ask the API for a fresh one.")
    if not os.path.isfile(path):
        return _refuse(404, "Not found.")
    stat = os.stat(path)
    etag = _etag(stat)
    # Cacheable for as long as this link is valid, never longer (the link is the credential).
    max_age = max(0, int(request.GET["expires"]) - int(time.time()))
    if etag in _if_none_match(request):
        response: HttpResponseBase = HttpResponseNotModified()
    else:
        content_type, _ = mimetypes.guess_type(path)
        response = FileResponse(
            open(path, "rb"),  # noqa: SIM115 - FileResponse closes it
            content_type=content_type or "application/octet-stream",
        )
        response["Content-Disposition"] = "inline"
        response["Last-Modified"] = http_date(stat.st_mtime)
    response["ETag"] = etag
    response["Cache-Control"] = f"private, max-age={max_age}"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _etag(stat: os.stat_result) -> str:
    """A strong validator from the file's size and modification time: storage.save replaces a file by
    renaming a new one over it, so new content always has a new mtime (reads never hash the bytes)."""
    return f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'


def _if_none_match(request: HttpRequest) -> set[str]:
    header = request.headers.get("If-None-Match", "")
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness for the load balancer: answers 200 only when the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
