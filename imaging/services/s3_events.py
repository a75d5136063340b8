"""S3 `ObjectCreated` events from the uploads bucket, turned into ingest jobs.

What starts a job (one upload prefix = `uploads/<case id>/<upload id>/`):

* a `.zip` object: one job for that archive (a scanner gateway's usual drop);
* a `complete.json` object: one job for every other file under its prefix, for multi-file uploads.
  Its JSON body may name the segmentation (a path below the prefix) and its labels:
  `{"segmentation": "seg.dcm", "labels": {"1": "liver"}}`; `{}` is fine.

Other objects (the single files of a multi-file upload) start nothing. Prefixes owned by a job of
the admin, the API or the command line are ignored: those jobs start themselves. Each job is created
once per (bucket, key, ETag), so duplicate deliveries and replays are harmless. An event for a case
that does not exist is logged (ids only) and dropped: the object stays in the bucket.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from urllib.parse import unquote_plus

from cases.models import Case
from hpb import storage
from imaging.models import IngestJob
from imaging.services import keys
from imaging.services.jobs import UPLOADS, InvalidLabelsError, create_job_for_s3_object, parse_labels, uploads_bucket
from imaging.services.lifecycle import Refusal

logger = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 64 * 1024


class MalformedMessageError(ValueError):
    """An SQS message that is not an S3 event notification (and never will be)."""


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str  # decoded
    etag: str
    size: int


@dataclass(frozen=True)
class ParsedMessage:
    test_event: bool
    created: list[ObjectCreated]
    other_records: int  # records of other event types (deletions...), ignored


@dataclass(frozen=True)
class EventOutcome:
    action: str  # "created", "duplicate" or "ignored"
    job_id: int | None = None
    reason: str = ""


def parse_message(body: str) -> ParsedMessage:
    """Parse an SQS body holding an S3 notification (directly, or wrapped by SNS)."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        raise MalformedMessageError("The message body is not JSON.") from None
    if isinstance(payload, dict) and payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        return parse_message(payload["Message"])
    if not isinstance(payload, dict):
        raise MalformedMessageError("The message body is not a JSON object.")
    if payload.get("Event") == "s3:TestEvent":
        return ParsedMessage(test_event=True, created=[], other_records=0)
    records = payload.get("Records")
    if not isinstance(records, list):
        raise MalformedMessageError("The message has no S3 event records.")
    created: list[ObjectCreated] = []
    other = 0
    for record in records:
        try:
            name = record["eventName"]
            bucket = record["s3"]["bucket"]["name"]
            obj = record["s3"]["object"]
            key = unquote_plus(obj["key"])  # S3 URL-encodes keys in events, spaces as '+'
        except (KeyError, TypeError):
            raise MalformedMessageError("An event record lacks its event name, bucket or key.") from None
        if not str(name).startswith("ObjectCreated:"):
            other += 1
            continue
        etag = str(obj.get("eTag") or obj.get("etag") or "").strip('"')
        if not etag:
            # Every ObjectCreated event carries an ETag; the sequencer still identifies the write.
            etag = f"sequencer:{obj.get('sequencer', '')}"
        created.append(ObjectCreated(bucket=bucket, key=key, etag=etag, size=int(obj.get("size") or 0)))
    return ParsedMessage(test_event=False, created=created, other_records=other)


def handle_object_created(event: ObjectCreated) -> EventOutcome:
    """Create (once) the job an uploaded object calls for, or say why none is needed."""
    expected_bucket = uploads_bucket()
    if not expected_bucket or event.bucket != expected_bucket:
        return EventOutcome("ignored", reason="not the uploads bucket")
    upload = keys.parse_upload_key(event.key)
    if upload is None:
        return EventOutcome("ignored", reason="not under uploads/<case id>/<upload id>/")
    if not (upload.is_archive or upload.is_manifest):
        return EventOutcome("ignored", reason="a file of a multi-file upload; complete.json starts it")
    case = Case.objects.filter(pk=upload.case_id).first()
    if case is None:
        logger.warning(
            "S3 upload for unknown case id %s (upload %s) dropped; the object is kept", upload.case_id, upload.upload_id
        )
        return EventOutcome("ignored", reason="unknown case")
    owned = IngestJob.objects.filter(case=case, upload_id=upload.upload_id).exclude(source=IngestJob.Source.S3_EVENT)
    if owned.exists():
        return EventOutcome("ignored", reason="the upload belongs to an admin, API or command-line job")

    segmentation_key, labels, problem = "", dict[str, str](), ""
    if upload.is_manifest:
        segmentation_key, labels, problem = _read_manifest(prefix=upload.prefix, key=event.key)
    job, created = create_job_for_s3_object(
        case=case,
        bucket=event.bucket,
        key=event.key,
        etag=event.etag,
        upload_id=upload.upload_id,
        source_key=upload.prefix if upload.is_manifest else event.key,
        segmentation_key=segmentation_key,
        labels=labels,
        refusal=Refusal(code="manifest_invalid", message=problem) if problem else None,
    )
    if created:
        logger.info("Ingest job %s created from an S3 event (case %s, upload %s)", job.pk, case.pk, upload.upload_id)
    return EventOutcome("created" if created else "duplicate", job_id=job.pk)


def _read_manifest(*, prefix: str, key: str) -> tuple[str, dict[str, str], str]:
    """(segmentation key, labels, problem): a problem fails the job with a message, it is not a crash."""
    with storage.get_storage(UPLOADS).open(key, "rb") as handle:
        raw = handle.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        return (
            "",
            {},
            (
                f"{keys.MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES // 1024} KiB; it should hold only the "
                "segmentation's file name and the labels."
            ),
        )
    try:
        manifest = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        return (
            "",
            {},
            (
                f"{keys.MANIFEST_NAME} is not valid JSON. Write {{}} or "
                '{"segmentation": "<file name>", "labels": {"1": "liver"}} and upload it again.'
            ),
        )
    if not isinstance(manifest, dict):
        return "", {}, f"{keys.MANIFEST_NAME} must hold a JSON object."
    try:
        labels = parse_labels(manifest.get("labels"))
    except InvalidLabelsError as exc:
        return "", {}, f"{keys.MANIFEST_NAME}: {exc}"
    segmentation = manifest.get("segmentation") or ""
    if not segmentation:
        return "", labels, ""
    candidate = keys.parse_upload_key(prefix + str(segmentation).lstrip("/"))
    if not isinstance(segmentation, str) or candidate is None or candidate.prefix != prefix:
        return "", labels, f"{keys.MANIFEST_NAME} names a segmentation outside its upload folder."
    return prefix + candidate.relative, labels, ""
