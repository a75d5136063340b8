"""A job, its studies and structures as plain data (for `ingest_dicom --json` and logs of tools)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from imaging.models import CaseStructure, ImagingStudy, IngestJob


def job_report(job: IngestJob) -> dict[str, Any]:
    studies = list(ImagingStudy.objects.filter(ingest_job=job).order_by("id"))
    structures = CaseStructure.objects.filter(imaging_study__in=studies).order_by("imaging_study_id", "name")
    return {
        "job": {
            "id": job.pk,
            "case_id": job.case_id,
            "source": job.source,
            "upload_id": job.upload_id,
            "source_key": job.source_key,
            "status": job.status,
            "stage": job.stage,
            "progress": job.progress,
            "attempts": job.attempts,
            "error_code": job.error_code,
            "error": job.error,
            "checksum": job.checksum,
            "stage_seconds": job.stage_seconds,
            "created_at": _iso(job.created_at),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
        },
        "studies": [
            {
                "id": s.pk,
                "case_id": s.case_id,
                "label": s.label,
                "modality": s.modality,
                "format": s.format,
                "volume_uri": s.volume_uri,
                "preview_uri": s.preview_uri,
                "series_instance_uid": s.series_instance_uid,
                "acquired_at": _iso(s.acquired_at),
                "metadata": s.metadata,
            }
            for s in studies
        ],
        "structures": [
            {
                "id": s.pk,
                "imaging_study_id": s.imaging_study_id,
                "name": s.name,
                "color_hex": s.color_hex,
                "mesh_uri": s.mesh_uri,
                "metadata": s.metadata,
            }
            for s in structures
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
