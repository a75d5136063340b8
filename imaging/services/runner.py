"""Running one ingest job: upload -> temp dir -> `imaging.conversion.convert` -> assets -> rows.

The order is what makes it safe to run twice or to die anywhere:

1. *Claim* the job under a row lock (status running, one more attempt, our task id and a heartbeat).
   A finished job, or one another live worker is running, is left alone.
2. Download the source from the uploads storage (never deleted) and convert it in a temp dir.
3. Under the case's assets lock (`imaging.services.locks`: steps 3-5 of two jobs of one case never
   interleave), pick the study the outputs belong to: the job's own study, else the case's study of
   the same SeriesInstanceUID, else an id reserved on the job, so every retry writes to the same keys.
4. Upload the volume, preview and meshes under `cases/<case id>/studies/<study id>/...`.
5. Write the study, its structures and the job's success in one transaction, fenced by the claim (a
   run that lost the job to another run writes nothing); then delete assets under the study's prefix that no row uses
   (structures that disappeared, leftovers of a killed run).

On failure the job is marked failed (or queued for a retry on a transient error) and the assets no
row references are deleted, so no partial rows or orphaned assets remain.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from imaging.conversion import ConversionResult, IngestError, Limits, convert
from imaging.models import CaseStructure, ImagingStudy, IngestJob
from imaging.services import keys, storage_io
from imaging.services.jobs import (
    ASSETS,
    UPLOADS,
    fail_job,
    labels_for_conversion,
    mark_retrying,
    stored_upload_files,
)
from imaging.services.locks import case_assets_lock
from imaging.services.stages import (
    CONVERT_END,
    DOWNLOAD_END,
    STAGE_AWAITING_UPLOAD,
    STAGE_DONE,
    STAGE_DOWNLOAD,
    STAGE_RECORD,
    STAGE_STORE,
    STORE_END,
)
from imaging.services.transient import is_transient

logger = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL_SECONDS = 1.0


class JobNoLongerOwnedError(Exception):
    """Another run (a redelivery, the sweep, a curator's retry) took the job over: stop quietly."""


@dataclass(frozen=True)
class RunOutcome:
    job_id: int
    status: str  # the job's status after this call
    ran: bool  # False when the job was skipped (finished, owned by a live run, awaiting upload)
    reason: str = ""


@dataclass
class _Claim:
    job: IngestJob
    attempt: int


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
    metadata: dict


@dataclass
class _StoredOutputs:
    volume_key: str
    preview_key: str
    structures: list[_StoredStructure] = field(default_factory=list)


def current_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def conversion_limits() -> Limits:
    return Limits(
        max_volume_bytes=settings.INGEST_MAX_VOLUME_BYTES,
        max_archive_bytes=settings.INGEST_MAX_ARCHIVE_BYTES,
        max_archive_files=settings.INGEST_MAX_ARCHIVE_FILES,
    )


def run_job(*, job_id: int, task_id: str = "", worker: str | None = None) -> RunOutcome:
    """Run (or take over, or skip) one job. Transient storage/database errors are re-raised after
    the job is put back in the queue state, so the caller can retry; everything else ends here."""
    claim = _claim(job_id=job_id, task_id=task_id, worker=worker or current_worker())
    if isinstance(claim, RunOutcome):
        return claim
    job, attempt = claim.job, claim.attempt
    reporter = _ProgressReporter(job_id=job_id, attempt=attempt)
    heartbeat = _Heartbeat(job_id=job_id, attempt=attempt)
    heartbeat.start()
    target: _Target | None = None
    try:
        timings: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix=f"ingest-{job_id}-") as tmp:
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
                target = _target_study(job=job, series_uid=result.series_uid)
                outputs = _store_outputs(job=job, result=result, study_id=target.study_id, reporter=reporter)
                timings[STAGE_STORE] = time.monotonic() - started
                reporter.stage(STAGE_RECORD, STORE_END)
                _record(
                    job_id=job_id,
                    attempt=attempt,
                    target=target,
                    result=result,
                    outputs=outputs,
                    checksum=source.checksum,
                    timings=timings,
                )
                _prune_assets_quietly(case_id=job.case_id, study_ids={target.study_id, job.reserved_study_id})
        logger.info("Ingest job %s succeeded (study %s, attempt %s)", job_id, target.study_id, attempt)
        return RunOutcome(job_id=job_id, status=IngestJob.Status.SUCCEEDED, ran=True)
    except JobNoLongerOwnedError:
        logger.warning("Ingest job %s was taken over by another run; attempt %s stopped", job_id, attempt)
        return RunOutcome(job_id=job_id, status=_status(job_id), ran=True, reason="taken over")
    except IngestError as exc:
        if not _caused_by_time_limit(exc):
            _end_failed(job=job, attempt=attempt, target=target, code=exc.code, message=str(exc))
        else:
            _end_failed(job=job, attempt=attempt, target=target, code="time_limit", message=_time_limit(reporter))
    except SoftTimeLimitExceeded:
        _end_failed(job=job, attempt=attempt, target=target, code="time_limit", message=_time_limit(reporter))
    except Exception as exc:
        if is_transient(exc):
            mark_retrying(
                job_id=job_id, attempt=attempt, reason=f"A temporary storage or database error ({type(exc).__name__})."
            )
            _prune_assets_quietly(case_id=job.case_id, study_ids=_study_ids(job, target))
            raise
        logger.exception("Ingest job %s failed with an unexpected error", job_id)
        message = (
            f"The conversion failed with an unexpected error ({type(exc).__name__}) at stage "
            f"'{reporter.current_stage}'. This is a fault of the system, not of the upload, which is kept; "
            f"an administrator can find job {job_id} in the worker logs, then retry it."
        )
        _end_failed(job=job, attempt=attempt, target=target, code="internal_error", message=message)
    finally:
        heartbeat.stop()
    return RunOutcome(job_id=job_id, status=_status(job_id), ran=True)


def _time_limit(reporter: _ProgressReporter) -> str:
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


# --- Claiming -------------------------------------------------------------------------------------


def _claim(*, job_id: int, task_id: str, worker: str) -> _Claim | RunOutcome:
    now = timezone.now()
    gave_up: IngestJob | None = None
    with transaction.atomic():
        job = IngestJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return RunOutcome(job_id=job_id, status="missing", ran=False, reason="no such job")
        if job.status in (IngestJob.Status.SUCCEEDED, IngestJob.Status.FAILED):
            return RunOutcome(job_id=job_id, status=job.status, ran=False, reason="already finished")
        if job.status == IngestJob.Status.QUEUED and job.stage == STAGE_AWAITING_UPLOAD:
            return RunOutcome(job_id=job_id, status=job.status, ran=False, reason="upload not complete")
        if job.status == IngestJob.Status.RUNNING and not _may_take_over(job, task_id=task_id, now=now):
            return RunOutcome(job_id=job_id, status=job.status, ran=False, reason="running elsewhere")
        if job.attempts >= settings.INGEST_MAX_ATTEMPTS:
            lost = job.status == IngestJob.Status.RUNNING
            job.status = IngestJob.Status.FAILED
            job.error_code = "too_many_attempts"
            job.error = (
                f"The job was started {job.attempts} times without finishing"
                + (" (its worker stopped responding or was killed, e.g. out of memory)" if lost else "")
                + ". The upload is kept; check the workers, then retry the job."
            )
            job.finished_at = now
            job.save()
            gave_up = job
        else:
            job.status = IngestJob.Status.RUNNING
            job.attempts += 1
            job.stage = STAGE_DOWNLOAD
            job.progress = 0.0
            job.error = ""
            job.error_code = ""
            job.started_at = now
            job.finished_at = None
            job.heartbeat_at = now
            job.task_id = task_id[:64]
            job.worker = worker[:255]
            job.save()
    if gave_up is not None:
        # After the commit: a run that died may have left assets no row references.
        _prune_assets_quietly(case_id=gave_up.case_id, study_ids=_study_ids(gave_up, None))
        return RunOutcome(job_id=job_id, status=gave_up.status, ran=False, reason="too many attempts")
    return _Claim(job=job, attempt=job.attempts)


def _may_take_over(job: IngestJob, *, task_id: str, now) -> bool:
    """A running job's previous run is known dead when its heartbeat went stale, or when the broker
    redelivers the very task that was running it: acks_late messages come back only once their
    worker is gone (the visibility timeout exceeds the hard time limit)."""
    if task_id and job.task_id == task_id:
        return True
    timeout = timedelta(seconds=settings.INGEST_HEARTBEAT_TIMEOUT_SECONDS)
    return job.heartbeat_at is None or job.heartbeat_at < now - timeout


# --- Download ---------------------------------------------------------------------------------------


def _download_source(*, job: IngestJob, folder: Path, reporter: _ProgressReporter) -> _Source:
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
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [table])
            return int(cursor.fetchone()[0])
    # SQLite (the embedded demo): AUTOINCREMENT never reuses an id, even of a deleted row.
    with transaction.atomic():
        placeholder = ImagingStudy.objects.create(case_id=case_id, label="(reserving an id)")
        reserved = placeholder.pk
        placeholder.delete()
    return reserved


def _store_outputs(*, job: IngestJob, result: ConversionResult, study_id: int, reporter) -> _StoredOutputs:
    case_id = job.case_id
    volume = keys.volume_key(case_id=case_id, study_id=study_id)
    files = [(volume, result.volume_path)]
    preview = ""
    if result.preview_path is not None:
        preview = keys.preview_key(case_id=case_id, study_id=study_id)
        files.append((preview, result.preview_path))
    slugs = keys.structure_slugs([(s.name, s.label) for s in result.structures])
    outputs = _StoredOutputs(volume_key=volume, preview_key=preview)
    for structure, slug in zip(result.structures, slugs, strict=True):
        key = keys.structure_key(case_id=case_id, study_id=study_id, slug=slug)
        files.append((key, structure.mesh_path))
        outputs.structures.append(
            _StoredStructure(
                name=structure.name[:100],
                label=structure.label,
                color_hex=structure.color_hex,
                key=key,
                metadata={**structure.metadata, "label": structure.label},
            )
        )
    for index, (key, path) in enumerate(files, start=1):
        storage_io.upload(ASSETS, key, Path(path))
        reporter.progress(STAGE_STORE, CONVERT_END + (STORE_END - CONVERT_END) * index / len(files))
    return outputs


def _record(
    *,
    job_id: int,
    attempt: int,
    target: _Target,
    result: ConversionResult,
    outputs: _StoredOutputs,
    checksum: str,
    timings: dict[str, float],
) -> None:
    """The study, its structures and the job's success, in one transaction (fenced by the claim)."""
    from hpb.storage import reference_for

    started = time.monotonic()
    with transaction.atomic():
        job = _owned_job(job_id=job_id, attempt=attempt)
        study = ImagingStudy.objects.select_for_update().filter(pk=target.study_id).first()
        if study is None:
            study = ImagingStudy(pk=target.study_id, case_id=job.case_id)
        metadata = dict(result.metadata)
        study.label = _study_label(metadata)
        study.modality = str(metadata.get("modality") or "CT")[:16]
        study.volume_uri = reference_for(ASSETS, outputs.volume_key)
        study.preview_uri = reference_for(ASSETS, outputs.preview_key) if outputs.preview_key else ""
        study.format = "vti"
        study.metadata = metadata
        study.acquired_at = _aware(getattr(result, "acquired_at", None))
        study.series_instance_uid = result.series_uid[:64]
        study.ingest_job = job
        study.save()
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
        now = timezone.now()
        timings = {**timings, STAGE_RECORD: time.monotonic() - started}
        job.status = IngestJob.Status.SUCCEEDED
        job.stage = STAGE_DONE
        job.progress = 1.0
        job.checksum = checksum
        job.stage_seconds = {k: round(v, 3) for k, v in timings.items()}
        job.warnings = [str(w) for w in getattr(result, "warnings", [])]
        job.finished_at = now
        job.heartbeat_at = now
        job.save()


def _study_label(metadata: dict) -> str:
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


def _owned_job(*, job_id: int, attempt: int) -> IngestJob:
    job = IngestJob.objects.select_for_update().get(pk=job_id)
    if job.status != IngestJob.Status.RUNNING or job.attempts != attempt:
        raise JobNoLongerOwnedError
    return job


# --- Failure and clean-up -------------------------------------------------------------------------------


def _end_failed(*, job: IngestJob, attempt: int, target: _Target | None, code: str, message: str) -> None:
    if fail_job(job_id=job.pk, code=code, message=message, attempt=attempt):
        _prune_assets_quietly(case_id=job.case_id, study_ids=_study_ids(job, target))


def _study_ids(job: IngestJob, target: _Target | None) -> set[int | None]:
    return {target.study_id if target else None, job.reserved_study_id}


def _prune_assets(*, case_id: int, study_ids: set[int | None]) -> list[str]:
    """Delete every asset under the studies' prefixes that no row references; return the keys.

    Under the case's assets lock: another job of the case may be between storing and recording.
    """
    with case_assets_lock(case_id):
        return _prune_unlocked(case_id=case_id, study_ids=study_ids)


def _prune_unlocked(*, case_id: int, study_ids: set[int | None]) -> list[str]:
    from hpb.storage import reference_for

    deleted: list[str] = []
    for study_id in sorted(i for i in study_ids if i is not None):
        referenced: set[str] = set()
        study = ImagingStudy.objects.filter(pk=study_id).first()
        if study is not None:
            referenced.update(u for u in (study.volume_uri, study.preview_uri) if u)
            referenced.update(u for u in study.structures.values_list("mesh_uri", flat=True) if u)
        for stored in storage_io.list_files(ASSETS, keys.study_prefix(case_id=case_id, study_id=study_id)):
            if reference_for(ASSETS, stored.key) not in referenced:
                storage_io.delete(ASSETS, stored.key)
                deleted.append(stored.key)
    return deleted


def _prune_assets_quietly(*, case_id: int, study_ids: set[int | None]) -> None:
    """Clean-up on a failure path must not hide the failure itself."""
    try:
        _prune_assets(case_id=case_id, study_ids=study_ids)
    except Exception:
        logger.exception("Could not remove the unreferenced assets of case %s", case_id)


def prune_job_assets(*, job: IngestJob) -> list[str]:
    """Delete the assets a job's runs left that no row references (used by the sweep)."""
    study_ids = set(ImagingStudy.objects.filter(ingest_job=job).values_list("pk", flat=True))
    return _prune_assets(case_id=job.case_id, study_ids={*study_ids, job.reserved_study_id})


def _status(job_id: int) -> str:
    return IngestJob.objects.filter(pk=job_id).values_list("status", flat=True).first() or "missing"


# --- Progress and heartbeat -------------------------------------------------------------------------


class _ProgressReporter:
    """Writes stage and progress to the job row: at once on a new stage, else at most once a second.

    Every write is fenced by the attempt, so a run that lost the job learns it at its next report.
    """

    def __init__(self, *, job_id: int, attempt: int) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.current_stage = STAGE_DOWNLOAD
        self._progress = 0.0
        self._written_at = 0.0

    def stage(self, name: str, progress: float) -> None:
        self._write(name, progress, force=True)

    def progress(self, stage: str, progress: float) -> None:
        self._write(stage, progress, force=stage != self.current_stage)

    def conversion_progress(self, stage: str, fraction: float) -> None:
        """The library's callback: its own stage names, a fraction of the conversion in [0, 1]."""
        try:
            fraction = min(max(float(fraction), 0.0), 1.0)
        except (TypeError, ValueError):
            fraction = 0.0
        self.progress(str(stage)[:32], DOWNLOAD_END + (CONVERT_END - DOWNLOAD_END) * fraction)

    def _write(self, stage: str, progress: float, *, force: bool) -> None:
        progress = min(max(progress, self._progress), 1.0)  # never moves backwards
        now = time.monotonic()
        if not force and now - self._written_at < PROGRESS_MIN_INTERVAL_SECONDS:
            return
        updated = IngestJob.objects.filter(
            pk=self.job_id, status=IngestJob.Status.RUNNING, attempts=self.attempt
        ).update(stage=stage[:32], progress=round(progress, 4), heartbeat_at=timezone.now(), updated_at=timezone.now())
        if not updated:
            raise JobNoLongerOwnedError
        self.current_stage, self._progress, self._written_at = stage, progress, now


class _Heartbeat:
    """Touches `heartbeat_at` every INGEST_HEARTBEAT_SECONDS from a thread while a job runs, so a
    long silent stage (one big mesh) is not mistaken for a dead worker by the sweep."""

    def __init__(self, *, job_id: int, attempt: int) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # SQLite (the embedded demo) allows one writer at a time and has no sweep running anyway.
        if connection.vendor == "sqlite" or settings.INGEST_HEARTBEAT_SECONDS <= 0:
            return
        self._thread = threading.Thread(target=self._run, name=f"ingest-heartbeat-{self.job_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self._stop.wait(settings.INGEST_HEARTBEAT_SECONDS):
                try:
                    IngestJob.objects.filter(
                        pk=self.job_id, status=IngestJob.Status.RUNNING, attempts=self.attempt
                    ).update(heartbeat_at=timezone.now())
                except Exception:
                    logger.warning("Heartbeat of ingest job %s could not be written", self.job_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()
