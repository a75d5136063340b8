"""Moving files between the uploads/assets storages and a worker's local temp folder.

`hpb.storage` knows references and single objects; ingestion also needs to list a prefix, stream
large objects to disk without holding them in memory, and hash what it read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage
from storages.backends.s3 import S3Storage

from hpb import storage

_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int


def list_files(alias: str, prefix: str) -> list[StoredFile]:
    """Every object under `prefix` (recursively), sorted by key."""
    found: list[StoredFile] = []
    if storage.is_s3(alias):
        for summary in s3_backend(alias).bucket.objects.filter(Prefix=prefix):
            if not summary.key.endswith("/"):
                found.append(StoredFile(key=summary.key, size=summary.size))
    else:
        root = _filesystem_root(storage.get_storage(alias))
        base = root / prefix
        if base.is_dir():
            for dirpath, _dirs, files in os.walk(base):
                for name in files:
                    path = Path(dirpath) / name
                    found.append(StoredFile(key=path.relative_to(root).as_posix(), size=path.stat().st_size))
        elif base.is_file():
            found.append(StoredFile(key=prefix, size=base.stat().st_size))
    return sorted(found, key=lambda f: f.key)


def s3_backend(alias: str) -> S3Storage:
    """The S3 storage behind `alias` (its boto3 bucket and client are what listing and presigning need)."""
    backend = storage.get_storage(alias)
    if not isinstance(backend, S3Storage):
        raise ImproperlyConfigured(f"The {alias} storage is {type(backend).__name__}, not an S3 storage.")
    return backend


def _filesystem_root(backend: Storage) -> Path:
    """The folder of a filesystem storage; anything else is refused rather than walked as a folder."""
    if not isinstance(backend, FileSystemStorage) or not str(backend.location):
        raise ImproperlyConfigured(f"{type(backend).__name__} is neither an S3 nor a filesystem storage.")
    return Path(backend.location)


def exists(alias: str, key: str) -> bool:
    return storage.get_storage(alias).exists(key)


def download(alias: str, key: str, destination: Path) -> str:
    """Stream one object to `destination` and return its SHA-256 (hex)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if storage.is_s3(alias):
        # boto3's managed transfer: multipart and ranged, never the whole object in memory.
        s3_backend(alias).bucket.download_file(key, str(destination))
    else:
        with storage.get_storage(alias).open(key, "rb") as source, destination.open("wb") as target:
            shutil.copyfileobj(source, target, _CHUNK)
    return sha256_file(destination)


def upload(alias: str, key: str, path: Path) -> str:
    """Store a local file under exactly `key` (replacing it) and return its reference."""
    with path.open("rb") as handle:
        return storage.save(alias, key, File(handle, name=path.name))


def delete(alias: str, key: str) -> None:
    backend = storage.get_storage(alias)
    if storage.is_s3(alias) or backend.exists(key):
        backend.delete(key)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_checksum(hashes: dict[str, str]) -> str:
    """One SHA-256 for a source: the file's own hash for a single file, else a hash of its listing.

    The listing is `<sha256>  <relative path>` lines sorted by path, the format of `sha256sum`, so a
    curator can reproduce it.
    """
    if len(hashes) == 1:
        return next(iter(hashes.values()))
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(hashes.items()))
    return hashlib.sha256(listing.encode()).hexdigest()
