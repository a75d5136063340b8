"""Creating ingest jobs from every way in: admin and API uploads, local paths, S3 events.

A job created from files we store ourselves (admin, API, local paths, seed) is committed *before*
its files reach the uploads storage, in the `awaiting_upload` state, so the S3 event listener can
tell that the prefix is already owned and never starts a second job for it. It is submitted
(queued and enqueued on commit) once every file is stored. The states and their transitions are
`imaging.services.lifecycle`'s; this module only decides when to ask for them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files import File
from django.db import IntegrityError

from cases.models import Case
from hpb import storage
from imaging.models import IngestJob
from imaging.services import keys, lifecycle, storage_io

logger = logging.getLogger(__name__)

UPLOADS = "uploads"
ASSETS = "assets"
MAX_STRUCTURE_NAME = 100  # CaseStructure.name

# Who started an upload: a signed-in user, or nobody (the listener, the command line, the seed).
Creator = AbstractBaseUser | AnonymousUser | None


class InvalidLabelsError(ValueError):
    """A label mapping that cannot name structures (shown to the curator or API client)."""


class UploadIncompleteError(ValueError):
    """`complete` was called before every announced file reached the uploads storage."""


@dataclass(frozen=True)
class NamedFile:
    """An uploaded file and the name it had on the sender's side (kept on the job, never in a key)."""

    name: str
    content: IO[bytes] | File
    size: int | None = None


def parse_labels(value: object) -> dict[str, str]:
    """Validate a segmentation label mapping ({"1": "liver", ...}) and normalise its keys.

    Keys are label values (positive integers, as numbers or strings); values are structure names.
    """
    if value in (None, "", {}):
        return {}
    if not isinstance(value, Mapping):
        raise InvalidLabelsError('Labels must be a JSON object mapping label values to names, e.g. {"1": "liver"}.')
    labels: dict[str, str] = {}
    for raw_key, raw_name in value.items():
        try:
            label = int(str(raw_key).strip())
        except ValueError:
            raise InvalidLabelsError(f"Label {str(raw_key)[:20]!r} is not a whole number.") from None
        if label <= 0:
            raise InvalidLabelsError(f"Label {label} is not positive (0 is the background).")
        if not isinstance(raw_name, str) or not raw_name.strip():
            raise InvalidLabelsError(f"Label {label} needs a structure name.")
        name = raw_name.strip()
        if len(name) > MAX_STRUCTURE_NAME:
            raise InvalidLabelsError(f"The name of label {label} is longer than {MAX_STRUCTURE_NAME} characters.")
        labels[str(label)] = name
    return labels


def labels_for_conversion(labels: Mapping[str, str]) -> dict[int, str] | None:
    return {int(k): v for k, v in labels.items()} or None


# --- Creating jobs -------------------------------------------------------------------------------


def begin_upload(
    *,
    case: Case,
    source: str,
    created_by: Creator = None,
    labels: Mapping[str, str] | None = None,
    upload_id: str | None = None,
) -> IngestJob:
    """A job that owns a fresh upload prefix and waits for its files (committed at once)."""
    upload_id = upload_id or keys.new_upload_id()
    return lifecycle.await_upload(
        case=case,
        source=source,
        source_bucket=_uploads_bucket(),
        source_key=keys.upload_prefix(case_id=case.pk, upload_id=upload_id),
        upload_id=upload_id,
        labels=dict(labels or {}),
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )


def ingest_files(
    *,
    case: Case,
    files: Sequence[NamedFile],
    segmentation: NamedFile | None = None,
    labels: Mapping[str, str] | None = None,
    created_by: Creator = None,
    source: str = IngestJob.Source.UPLOAD,
    enqueue: bool = True,
) -> IngestJob:
    """Store uploaded files under a new upload prefix and submit a job for them (admin uploads).

    With `enqueue=False` the job is left queued for the caller to run in process.
    """
    if not files:
        raise ValueError("An upload needs at least one file.")
    job = begin_upload(case=case, source=source, created_by=created_by, labels=labels)
    try:
        listing = []
        for index, named in enumerate(files, start=1):
            key = keys.part_key(prefix=job.source_key, index=index, original_name=named.name)
            storage.save(UPLOADS, key, named.content if isinstance(named.content, File) else File(named.content))
            listing.append({"key": key, "name": named.name, "size": named.size})
        seg_key = ""
        if segmentation is not None:
            seg_key = keys.segmentation_key(prefix=job.source_key, original_name=segmentation.name)
            content = segmentation.content
            storage.save(UPLOADS, seg_key, content if isinstance(content, File) else File(content))
            listing.append({"key": seg_key, "name": segmentation.name, "size": segmentation.size, "segmentation": True})
    except Exception as exc:
        lifecycle.fail(
            job_id=job.pk,
            code="upload_failed",
            message=f"Storing the uploaded files failed ({type(exc).__name__}); nothing was converted. "
            "Upload them again.",
        )
        raise
    job.source_files = listing
    job.segmentation_key = seg_key
    job.save(update_fields=["source_files", "segmentation_key", "updated_at"])
    lifecycle.submit(job_id=job.pk, enqueue=enqueue)
    job.refresh_from_db()
    return job


def ingest_local_paths(
    *,
    case: Case,
    paths: Sequence[Path],
    segmentation: Path | None = None,
    labels: Mapping[str, str] | None = None,
    source: str = IngestJob.Source.LOCAL,
    enqueue: bool = True,
) -> IngestJob:
    """Copy local files, folders (recursively) or zips into the uploads storage and submit a job."""
    local_files = list(_expand_paths(paths))
    if not local_files:
        raise ValueError("No files found in the given paths.")
    if segmentation is not None and not segmentation.is_file():
        raise ValueError("The segmentation is not a file.")
    handles: list[IO[bytes]] = []
    try:
        named = []
        for path in local_files:
            handle = path.open("rb")
            handles.append(handle)
            named.append(NamedFile(name=path.name, content=File(handle, name=path.name), size=path.stat().st_size))
        seg = None
        if segmentation is not None:
            handle = segmentation.open("rb")
            handles.append(handle)
            seg = NamedFile(
                name=segmentation.name, content=File(handle, name=segmentation.name), size=segmentation.stat().st_size
            )
        return ingest_files(case=case, files=named, segmentation=seg, labels=labels, source=source, enqueue=enqueue)
    finally:
        for opened in handles:
            opened.close()


def _expand_paths(paths: Iterable[Path]) -> Iterable[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise ValueError(f"{path.name} is neither a file nor a folder.")


def create_job_for_s3_object(
    *,
    case: Case,
    bucket: str,
    key: str,
    etag: str,
    upload_id: str,
    source_key: str,
    segmentation_key: str = "",
    labels: Mapping[str, str] | None = None,
    refusal: lifecycle.Refusal | None = None,
) -> tuple[IngestJob, bool]:
    """The job of one S3 object event, created once per (bucket, key, ETag); enqueued on commit.

    Returns (job, created). A duplicate delivery of the same event finds the existing job. With a
    `refusal` (an unreadable manifest) the job is recorded as failed and nothing runs.
    """
    identity = {"source_bucket": bucket, "source_key": source_key, "source_etag": etag}
    existing = IngestJob.objects.filter(**identity).first()
    if existing is not None:
        return existing, False
    try:
        job = lifecycle.submit_new(
            refusal=refusal,
            case=case,
            source=IngestJob.Source.S3_EVENT,
            upload_id=upload_id,
            segmentation_key=segmentation_key,
            labels=dict(labels or {}),
            source_files=[{"key": key}],
            **identity,
        )
    except IntegrityError:
        # Another listener committed the same event between our lookup and our insert.
        return IngestJob.objects.get(**identity), False
    return job, True


# --- Where the uploads are -------------------------------------------------------------------------


def _uploads_bucket() -> str:
    return storage.bucket_name(UPLOADS) if storage.is_s3(UPLOADS) else ""


def uploads_bucket() -> str:
    """The uploads bucket name ('' for the filesystem storage)."""
    return _uploads_bucket()


def stored_upload_files(job: IngestJob) -> list[storage_io.StoredFile]:
    """What the uploads storage holds for a job's source (a prefix or a single key)."""
    if job.source_key.endswith("/"):
        return storage_io.list_files(UPLOADS, job.source_key)
    return [f for f in storage_io.list_files(UPLOADS, job.source_key) if f.key == job.source_key]


# --- API uploads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnouncedFile:
    """A file an API client says it is about to upload."""

    name: str
    size: int | None = None


@dataclass(frozen=True)
class AnnouncedUpload:
    name: str
    key: str
    is_segmentation: bool = False


def start_api_upload(
    *,
    case: Case,
    files: Sequence[AnnouncedFile],
    segmentation: AnnouncedFile | None = None,
    labels: Mapping[str, str] | None = None,
    created_by: Creator = None,
) -> tuple[IngestJob, list[AnnouncedUpload]]:
    """A job awaiting its files, and the neutral key each announced file must be uploaded to."""
    if not files:
        raise ValueError("An upload needs at least one file.")
    job = begin_upload(case=case, source=IngestJob.Source.UPLOAD, created_by=created_by, labels=labels)
    uploads = [
        AnnouncedUpload(name=f.name, key=keys.part_key(prefix=job.source_key, index=i, original_name=f.name))
        for i, f in enumerate(files, start=1)
    ]
    if segmentation is not None:
        key = keys.segmentation_key(prefix=job.source_key, original_name=segmentation.name)
        uploads.append(AnnouncedUpload(name=segmentation.name, key=key, is_segmentation=True))
        job.segmentation_key = key
    sizes = [f.size for f in files] + ([segmentation.size] if segmentation else [])
    job.source_files = [
        {"key": u.key, "name": u.name, "size": size, **({"segmentation": True} if u.is_segmentation else {})}
        for u, size in zip(uploads, sizes, strict=True)
    ]
    job.save(update_fields=["source_files", "segmentation_key", "updated_at"])
    return job, uploads


def complete_api_upload(*, job: IngestJob) -> tuple[IngestJob, bool]:
    """Submit a job once every announced file is stored. Returns (job, started now).

    Calling it again is harmless: a job that already left `awaiting_upload` is returned unchanged.
    """
    if job.status != IngestJob.Status.AWAITING_UPLOAD:
        return job, False
    stored = {f.key for f in storage_io.list_files(UPLOADS, job.source_key)}  # one listing, not a HEAD per file
    missing = [f for f in job.source_files if f["key"] not in stored]
    if missing:
        names = ", ".join(str(f.get("name") or f["key"].rsplit("/", 1)[-1]) for f in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise UploadIncompleteError(
            f"{len(missing)} of {len(job.source_files)} announced files have not arrived: {names}{more}. "
            "Upload them with their forms, then call complete again."
        )
    started = lifecycle.submit(job_id=job.pk)
    job.refresh_from_db()
    return job, started
