"""Reading and writing the viewer storage: the object operations a bundle needs, on S3 or a folder.

`hpb.storage` saves and opens single objects; a bundle also lists a folder, copies objects from the
assets and documents storages (server-side on S3: nothing passes through the worker), sets each object's
Content-Type and Cache-Control (the viewer fetches files with `cache: 'force-cache'`, so content-named
files are immutable and the manifest is `no-cache`), and deletes many keys at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpb import storage
from imaging.services import storage_io

VIEWER = "viewer"
IMMUTABLE = "public, max-age=31536000, immutable"  # content-named files: a new content gets a new name
REVALIDATE = "no-cache"  # manifest.json: always asked again (the viewer does so too)
_DELETE_BATCH = 1000  # S3 DeleteObjects takes at most 1000 keys


@dataclass(frozen=True)
class SourceIdentity:
    """What tells one version of a source object from another without reading it."""

    reference: str
    size: int
    version: str  # the S3 ETag, or the file's mtime in nanoseconds

    def digest(self, *parts: str) -> str:
        text = "\n".join([self.reference, str(self.size), self.version, *parts])
        return hashlib.sha256(text.encode()).hexdigest()


def _client(alias: str) -> Any:  # boto3 clients are untyped
    return storage_io.s3_backend(alias).connection.meta.client


def _path(alias: str, key: str) -> Path:
    return Path(storage.get_storage(alias).path(key))


def identify(reference: str) -> SourceIdentity | None:
    """The source's size and version; None when the object is missing."""
    obj = storage.parse_reference(reference)
    if storage.is_s3(obj.alias):
        client = _client(obj.alias)
        try:
            head = client.head_object(Bucket=storage.bucket_name(obj.alias), Key=obj.key)
        except client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return SourceIdentity(reference=reference, size=int(head["ContentLength"]), version=str(head["ETag"]))
    path = _path(obj.alias, obj.key)
    if not path.is_file():
        return None
    stat = path.stat()
    return SourceIdentity(reference=reference, size=stat.st_size, version=str(stat.st_mtime_ns))


def read_bytes(reference: str) -> bytes:
    with storage.open_reference(reference) as handle:
        return handle.read()


def list_keys(prefix: str) -> dict[str, int]:
    """Every object under `prefix` of the viewer storage: key -> size."""
    return {f.key: f.size for f in storage_io.list_files(VIEWER, prefix)}


def list_folders(prefix: str) -> list[str]:
    """The folder names directly under `prefix/` (what the viewer's delimiter listing shows)."""
    base = prefix.strip("/") + "/"
    if storage.is_s3(VIEWER):
        folders: list[str] = []
        paginator = _client(VIEWER).get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=storage.bucket_name(VIEWER), Prefix=base, Delimiter="/"):
            folders += [p["Prefix"][len(base) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return sorted(folders)
    root = _path(VIEWER, base.rstrip("/"))
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def put_bytes(key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
    """Write `data` under `key`, whole or not at all (an S3 PUT; locally a write and a rename)."""
    if storage.is_s3(VIEWER):
        _client(VIEWER).put_object(
            Bucket=storage.bucket_name(VIEWER), Key=key, Body=data, ContentType=content_type, CacheControl=cache_control
        )
    else:
        target = _path(VIEWER, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(data)
        os.replace(partial, target)  # readers see the old file or the new one, never a part


def copy_object(reference: str, key: str, *, content_type: str, cache_control: str) -> None:
    """Copy a stored object into the viewer storage: server-side between S3 buckets, else streamed."""
    obj = storage.parse_reference(reference)
    if storage.is_s3(obj.alias) and storage.is_s3(VIEWER):
        # boto3's managed copy: one CopyObject, or a multipart copy for large objects; no bytes via us.
        _client(VIEWER).copy(
            {"Bucket": storage.bucket_name(obj.alias), "Key": obj.key},
            storage.bucket_name(VIEWER),
            key,
            ExtraArgs={"ContentType": content_type, "CacheControl": cache_control, "MetadataDirective": "REPLACE"},
        )
        return
    if storage.is_s3(VIEWER):
        with storage.open_reference(reference) as source:
            _client(VIEWER).upload_fileobj(
                source,
                storage.bucket_name(VIEWER),
                key,
                ExtraArgs={"ContentType": content_type, "CacheControl": cache_control},
            )
        return
    target = _path(VIEWER, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    if storage.is_s3(obj.alias):
        with storage.open_reference(reference) as source, partial.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
    else:
        shutil.copyfile(_path(obj.alias, obj.key), partial)  # in the kernel (sendfile/copy_file_range)
    os.replace(partial, target)  # readers see the old file or the new one, never a part


def delete_keys(keys: list[str]) -> None:
    """Delete objects of the viewer storage (missing ones are not an error); locally, empty folders too."""
    if not keys:
        return
    if storage.is_s3(VIEWER):
        client, bucket = _client(VIEWER), storage.bucket_name(VIEWER)
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        return
    root = _path(VIEWER, ".").resolve()
    folders: set[Path] = set()
    for key in keys:
        path = _path(VIEWER, key)
        path.unlink(missing_ok=True)
        folders.update(p for p in path.parents if p.resolve() != root and root in p.resolve().parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
