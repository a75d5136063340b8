"""Running one ingest job: upload -> temp dir -> `imaging.conversion.convert` -> assets -> rows.

The order is what makes it safe to run twice or to die anywhere:

1. *Claim* the job (`lifecycle.claim`: running, one more attempt, our task id and a heartbeat). A
   finished job, or one another live worker is running, is left alone.
2. Download the source from the uploads storage (never deleted) and convert it in a temp dir.
3. Under the case's assets lock (`imaging.services.locks`: steps 3-5 of two jobs of one case never
   interleave), pick the study the outputs belong to: the job's own study, else the case's study of
   the same SeriesInstanceUID, else an id reserved on the job, so every retry writes to the same keys.
4. Upload the volume, preview and meshes under `cases/<case id>/studies/<study id>/...`.
5. Write the study, its structures and the job's success in one transaction, fenced by the claim (a
   run that lost the job to another run writes nothing); then delete assets under the study's prefix
   that no row uses (structures that disappeared, leftovers of a killed run).

On failure the job is marked failed (or retrying, on a transient error) and the assets no row
references are deleted, so no partial rows or orphaned assets remain. Every change of the job's state
goes through `imaging.services.lifecycle`.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hpb.database import capabilities
from hpb.storage import reference_for
from imaging.conversion import ConversionResult, IngestError, Limits, convert
from imaging.models import CaseStructure, ImagingStudy, IngestJob
from imaging.services import keys, lifecycle, storage_io
from imaging.services.jobs import ASSETS, UPLOADS, labels_for_conversion, stored_upload_files
from imaging.services.locks import case_assets_lock
from imaging.services.progress import Heartbeat, JobNoLongerOwnedError, ProgressReporter
from imaging.services.pruning import prune_assets_quietly
from imaging.services.stages import (
    CONVERT_END,
    DOWNLOAD_END,
    STAGE_DOWNLOAD,
    STAGE_RECORD,
    STAGE_STORE,
    STORE_END,
)
from imaging.services.transient import is_transient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    job_id: int
    status: str  # the job's status after this call
    ran: bool  # False when the job was skipped (finished, owned by a live run, awaiting upload)
    reason: str = ""


@dataclass
class _Source:
    folder: Path
    segmentation: Path | None
    checksum: str


@dataclass
class _Target:
    study_id: int
    existing: bool


@dataclass
class _StoredStructure:
    name: str
    label: int
    color_hex: str
    key: str
    metadata: dict[str, Any]


@dataclass
class _StoredOutputs:
    volume_key: str
    preview_key: str
    structures: list[_StoredStructure] = field(default_factory=list)


@dataclass
class _Run:
    """One claimed run of a job: what its failure paths need to know to end it and clean up."""

    job: IngestJob
    attempt: int
    reporter: ProgressReporter
    target: _Target | None = None  # set once the study the outputs belong to is picked

    @property
    def study_ids(self) -> set[int | None]:
        """The studies whose prefixes this run may have written to."""
        return {self.target.study_id if self.target else None, self.job.reserved_study_id}


def current_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def conversion_limits() -> Limits:
    return Limits(
        max_volume_bytes=settings.INGEST_MAX_VOLUME_BYTES,
        max_archive_bytes=settings.INGEST_MAX_ARCHIVE_BYTES,
        max_archive_files=settings.INGEST_MAX_ARCHIVE_FILES,
        max_frames=settings.INGEST_MAX_FRAMES,
        max_header_bytes=settings.INGEST_MAX_HEADER_BYTES,
        max_header_items=settings.INGEST_MAX_HEADER_ITEMS,
    )


def run_job(*, job_id: int, task_id: str = "", worker: str | None = None) -> RunOutcome:
    """Run (or take over, or skip) one job. A transient storage or database error is re-raised after
    the job is put in `retrying`, so the caller (the task) can retry it, unless the attempt budget is
    spent: then the job fails (`transient_exhausted`) like any other ending, and nothing is raised."""
    claim = lifecycle.claim(job_id=job_id, task_id=task_id, worker=worker or current_worker())
    if not claim.claimed or claim.job is None:
        if claim.gave_up and claim.job is not None:
            # After the commit: a run that died may have left assets no row references.
            prune_assets_quietly(case_id=claim.job.case_id, study_ids={claim.job.reserved_study_id})
        return RunOutcome(job_id=job_id, status=claim.status, ran=False, reason=claim.refused)
    run = _Run(job=claim.job, attempt=claim.attempt, reporter=ProgressReporter(job_id=job_id, attempt=claim.attempt))
    heartbeat = Heartbeat(job_id=job_id, attempt=run.attempt)
    heartbeat.start()
    try:
        return _convert_and_record(run)
    except JobNoLongerOwnedError:
        return _taken_over(run)
    except (IngestError, SoftTimeLimitExceeded) as exc:
        return _end_refused(run, exc)
    except Exception as exc:
        if is_transient(exc):
            return _wait_to_retry(run, exc)  # re-raises exc unless the attempt budget is spent
        logger.exception("Ingest job %s failed with an unexpected error", job_id)
        return _end_internal_error(run, exc)
    finally:
        heartbeat.stop()


def _convert_and_record(run: _Run) -> RunOutcome:
    job, reporter = run.job, run.reporter
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix=f"ingest-{job.pk}-") as tmp:
        started = time.monotonic()
        source = _download_source(job=job, folder=Path(tmp) / "source", reporter=reporter)
        timings[STAGE_DOWNLOAD] = time.monotonic() - started
        result = convert(
            inputs=[source.folder],
            work_dir=Path(tmp) / "work",
            segmentation=source.segmentation,
            labels=labels_for_conversion(job.labels),
            limits=conversion_limits(),
            progress=reporter.conversion_progress,
        )
        timings.update({k: float(v) for k, v in result.stage_seconds.items()})
        reporter.stage(STAGE_STORE, CONVERT_END)
        # From picking the study to pruning, one job of the case at a time (see locks).
        with case_assets_lock(job.case_id):
            started = time.monotonic()
            run.target = target = _target_study(job=job, series_uid=result.series_uid)
            outputs = _store_outputs(job=job, result=result, study_id=target.study_id, reporter=reporter)
            timings[STAGE_STORE] = time.monotonic() - started
            reporter.stage(STAGE_RECORD, STORE_END)
            _record(run, target=target, result=result, outputs=outputs, checksum=source.checksum, timings=timings)
            prune_assets_quietly(case_id=job.case_id, study_ids=run.study_ids)
    logger.info("Ingest job %s succeeded (study %s, attempt %s)", job.pk, target.study_id, run.attempt)
    return RunOutcome(job_id=job.pk, status=IngestJob.Status.SUCCEEDED, ran=True)


# --- Ending a run that did not succeed ------------------------------------------------------------


def _end_refused(run: _Run, exc: IngestError | SoftTimeLimitExceeded) -> RunOutcome:
    """The input was refused (the library's message), or the run hit its soft time limit."""
    if isinstance(exc, SoftTimeLimitExceeded) or _caused_by_time_limit(exc):
        return _end_failed(run, code="time_limit", message=_time_limit(run.reporter))
    return _end_failed(run, code=exc.code, message=str(exc))


def _end_internal_error(run: _Run, exc: Exception) -> RunOutcome:
    message = (
        f"The conversion failed with an unexpected error ({type(exc).__name__}) at stage "
        f"'{run.reporter.current_stage}'. This is a fault of the system, not of the upload, which is kept; "
        f"an administrator can find job {run.job.pk} in the worker logs, then retry it."
    )
    return _end_failed(run, code="internal_error", message=message)


def _end_failed(run: _Run, *, code: str, message: str) -> RunOutcome:
    if lifecycle.fail(job_id=run.job.pk, code=code, message=message, attempt=run.attempt):
        prune_assets_quietly(case_id=run.job.case_id, study_ids=run.study_ids)
    return RunOutcome(job_id=run.job.pk, status=_status(run.job.pk), ran=True)


def _wait_to_retry(run: _Run, exc: Exception) -> RunOutcome:
    """A transient error: `retrying` and re-raise for the task to retry, unless the budget is spent."""
    decision = lifecycle.wait_to_retry(job_id=run.job.pk, attempt=run.attempt, error_type=type(exc).__name__)
    prune_assets_quietly(case_id=run.job.case_id, study_ids=run.study_ids)
    if decision is lifecycle.RetryDecision.RETRY:
        raise exc
    if decision is lifecycle.RetryDecision.LOST:
        return _taken_over(run)
    return RunOutcome(job_id=run.job.pk, status=_status(run.job.pk), ran=True, reason="attempts exhausted")


def _taken_over(run: _Run) -> RunOutcome:
    logger.warning("Ingest job %s was taken over by another run; attempt %s stopped", run.job.pk, run.attempt)
    return RunOutcome(job_id=run.job.pk, status=_status(run.job.pk), ran=True, reason="taken over")


def _time_limit(reporter: ProgressReporter) -> str:
    return (
        f"The conversion did not finish within its time limit of {settings.CELERY_TASK_SOFT_TIME_LIMIT} seconds "
        f"and was stopped at stage '{reporter.current_stage}'. Nothing was recorded and the upload is kept. A very "
        "large series needs a higher CONVERSION_TIME_LIMIT_SECONDS, or split the upload into smaller series."
    )


def _caused_by_time_limit(exc: BaseException) -> bool:
    """The library wraps decoder failures in IngestError; a soft time limit hit mid-decode is not bad input."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SoftTimeLimitExceeded):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _status(job_id: int) -> str:
    return IngestJob.objects.filter(pk=job_id).values_list("status", flat=True).first() or "missing"


# --- Download ---------------------------------------------------------------------------------------


def _download_source(*, job: IngestJob, folder: Path, reporter: ProgressReporter) -> _Source:
    folder.mkdir(parents=True)
    base = job.source_key if job.source_key.endswith("/") else job.source_key.rsplit("/", 1)[0] + "/"
    files = [
        f
        for f in stored_upload_files(job)
        if f.key != job.segmentation_key and f.key != base + keys.MANIFEST_NAME and not f.key.endswith("/")
    ]
    if not files:
        raise IngestError(
            "upload_missing",
            "The upload has no files in the uploads storage (they may not have arrived yet, or were removed). "
            "Upload the series again.",
        )
    hashes: dict[str, str] = {}
    total = sum(f.size for f in files) or 1
    done = 0
    for index, stored in enumerate(files, start=1):
        relative = stored.key[len(base) :] if stored.key.startswith(base) else stored.key.rsplit("/", 1)[-1]
        # An S3 key is any string ("../../x" included): local names are ours, only the extension is
        # kept (the library recognises zips and NIfTI by it). The key's own path only feeds the checksum.
        local = folder / f"{index:05d}{keys.safe_extension(relative)}"
        hashes[relative] = storage_io.download(UPLOADS, stored.key, local)
        done += stored.size
        reporter.progress(STAGE_DOWNLOAD, DOWNLOAD_END * done / total)
    segmentation = None
    if job.segmentation_key:
        if not storage_io.exists(UPLOADS, job.segmentation_key):
            raise IngestError(
                "segmentation_missing",
                "The segmentation named for this upload is not in the uploads storage. Upload it again.",
            )
        name = job.segmentation_key.rsplit("/", 1)[-1]
        segmentation = folder.parent / "segmentation" / f"{keys.SEGMENTATION_STEM}{keys.safe_extension(name)}"
        hashes[name] = storage_io.download(UPLOADS, job.segmentation_key, segmentation)
    return _Source(folder=folder, segmentation=segmentation, checksum=storage_io.source_checksum(hashes))


# --- Outputs ------------------------------------------------------------------------------------------


def _target_study(*, job: IngestJob, series_uid: str) -> _Target:
    study = ImagingStudy.objects.filter(ingest_job_id=job.pk).order_by("id").first()
    if study is None and series_uid:
        study = ImagingStudy.objects.filter(case_id=job.case_id, series_instance_uid=series_uid).order_by("id").first()
    if study is not None:
        return _Target(study_id=study.pk, existing=True)
    if job.reserved_study_id is None:
        job.reserved_study_id = _reserve_study_id(case_id=job.case_id)
        IngestJob.objects.filter(pk=job.pk).update(reserved_study_id=job.reserved_study_id)
    return _Target(study_id=job.reserved_study_id, existing=False)


def _reserve_study_id(*, case_id: int) -> int:
    """An ImagingStudy id no other row will ever get, before the row exists (ids are in the keys)."""
    table = ImagingStudy._meta.db_table
    if capabilities().sequences:
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [table])
            return int(cursor.fetchone()[0])
    # SQLite (the embedded demo): AUTOINCREMENT never reuses an id, even of a deleted row.
    with transaction.atomic():
        placeholder = ImagingStudy.objects.create(case_id=case_id, label="(reserving an id)")
        reserved = placeholder.pk
        placeholder.delete()
    return reserved


def _store_outputs(
    *, job: IngestJob, result: ConversionResult, study_id: int, reporter: ProgressReporter
) -> _StoredOutputs:
    case_id = job.case_id
    volume = keys.volume_key(case_id=case_id, study_id=study_id)
    files = [(volume, result.volume_path)]
    preview = ""
    if result.preview_path is not None:
        preview = keys.preview_key(case_id=case_id, study_id=study_id)
        files.append((preview, result.preview_path))
    prefix = keys.study_prefix(case_id=case_id, study_id=study_id)
    # The volume's other levels (the half-resolution preview) beside it, under the names the study's
    # metadata lists them by (`levels[].file`, relative to the study's prefix).
    files += [(prefix + path.name, path) for path in result.volume_levels.values() if path != result.volume_path]
    slugs = keys.structure_slugs([(s.name, s.label) for s in result.structures])
    outputs = _StoredOutputs(volume_key=volume, preview_key=preview)
    for structure, slug in zip(result.structures, slugs, strict=True):
        key = keys.structure_key(case_id=case_id, study_id=study_id, slug=slug)
        files.append((key, structure.mesh_path))
        metadata = {**structure.metadata, "label": structure.label}
        if structure.light_mesh_path is not None:
            files.append((light_mesh_key(key), structure.light_mesh_path))
        metadata["levels"] = _mesh_levels(metadata.get("levels"), key=key, prefix=prefix)
        outputs.structures.append(
            _StoredStructure(
                name=structure.name[:100],
                label=structure.label,
                color_hex=structure.color_hex,
                key=key,
                metadata=metadata,
            )
        )
    for index, (key, path) in enumerate(files, start=1):
        storage_io.upload(ASSETS, key, Path(path))
        reporter.progress(STAGE_STORE, CONVERT_END + (STORE_END - CONVERT_END) * index / len(files))
    return outputs


def light_mesh_key(mesh_key: str) -> str:
    """The key of a mesh's light level: `<slug>.light.vtp` beside `<slug>.vtp`."""
    return f"{mesh_key.removesuffix('.vtp')}.light.vtp"


def _mesh_levels(levels: object, *, key: str, prefix: str) -> list[dict[str, Any]]:
    """The mesh's levels with the file of each, relative to the study's prefix (as the volume's are)."""
    files = {"full": key, "light": light_mesh_key(key)}
    entries = [dict(level) for level in levels if isinstance(level, dict)] if isinstance(levels, list) else []
    for entry in entries:
        entry["file"] = files.get(str(entry.get("name")), key).removeprefix(prefix)
    return entries


def _record(
    run: _Run,
    *,
    target: _Target,
    result: ConversionResult,
    outputs: _StoredOutputs,
    checksum: str,
    timings: dict[str, float],
) -> None:
    """The study, its structures and the job's success, in one transaction (fenced by the claim)."""
    started = time.monotonic()
    job_id, attempt = run.job.pk, run.attempt
    with transaction.atomic():
        if not lifecycle.hold_run(job_id=job_id, attempt=attempt):
            raise JobNoLongerOwnedError
        study = _write_study(job=run.job, study_id=target.study_id, result=result, outputs=outputs)
        _write_structures(study=study, outputs=outputs)
        timings = {**timings, STAGE_RECORD: time.monotonic() - started}
        if not lifecycle.succeed(
            job_id=job_id,
            attempt=attempt,
            checksum=checksum,
            stage_seconds={k: round(v, 3) for k, v in timings.items()},
            warnings=[str(w) for w in getattr(result, "warnings", [])],
        ):
            raise JobNoLongerOwnedError  # rolls the rows back with it


def _write_study(*, job: IngestJob, study_id: int, result: ConversionResult, outputs: _StoredOutputs) -> ImagingStudy:
    study = ImagingStudy.objects.select_for_update().filter(pk=study_id).first()
    if study is None:
        study = ImagingStudy(pk=study_id, case_id=job.case_id)
    metadata = dict(result.metadata)
    study.label = _study_label(metadata)
    study.modality = str(metadata.get("modality") or "CT")[:16]
    study.volume_uri = reference_for(ASSETS, outputs.volume_key)
    study.preview_uri = reference_for(ASSETS, outputs.preview_key) if outputs.preview_key else ""
    study.format = "vti"
    study.metadata = metadata
    study.acquired_at = _aware(getattr(result, "acquired_at", None))
    study.series_instance_uid = result.series_uid[:64]
    study.ingest_job_id = job.pk
    study.save()
    return study


def _write_structures(*, study: ImagingStudy, outputs: _StoredOutputs) -> None:
    current = {s.name: s for s in CaseStructure.objects.filter(imaging_study=study)}
    for stored in outputs.structures:
        row = current.pop(stored.name, None) or CaseStructure(case_id=study.case_id, imaging_study=study)
        row.name = stored.name
        row.color_hex = stored.color_hex
        row.mesh_uri = reference_for(ASSETS, stored.key)
        row.metadata = stored.metadata
        row.save()
    # Structures the new segmentation no longer has; their meshes are pruned after the commit.
    CaseStructure.objects.filter(pk__in=[s.pk for s in current.values()]).delete()


def _study_label(metadata: dict[str, Any]) -> str:
    """A technical label ("CT 512x512x300"): series descriptions are free text and may name people."""
    modality = str(metadata.get("modality") or "CT")
    dimensions = metadata.get("dimensions")
    if isinstance(dimensions, list | tuple) and len(dimensions) == 3:
        return f"{modality} {'x'.join(str(int(d)) for d in dimensions)}"
    return f"{modality} volume"


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)
