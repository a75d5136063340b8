"""Imaging for seeded cases: the library's synthetic abdominal CT phantom, ingested like any upload.

The phantom is real DICOM (a CT series and a DICOM SEG) written to a temp folder and sent through
`ingest_local_paths` and `run_job`, so `seed_hpb` exercises the same path as a curator's upload. It is
deterministic per case (its noise and UIDs come from the case's slug), so seeding again finds the
same SeriesInstanceUID and updates the same study instead of adding one.
"""

from __future__ import annotations

import logging
import tempfile
import zlib
from pathlib import Path
from typing import Literal

from cases.models import Case
from imaging.conversion.phantom import phantom_uid, write_phantom
from imaging.models import ImagingStudy, IngestJob
from imaging.services.jobs import ingest_local_paths
from imaging.services.runner import run_job

logger = logging.getLogger(__name__)

ImagingSize = Literal["small", "full", "none"]
IMAGING_SIZES: tuple[str, ...] = ("small", "full", "none")
# The phantom's grid (columns, rows, slices) per size, as imaging.conversion.phantom documents it.
PHANTOM_DIMENSIONS = {"small": [96, 96, 48], "full": [512, 512, 300]}


def phantom_seed_for(case: Case) -> int:
    """A stable seed per case (not its id: ids differ between databases, slugs do not)."""
    return zlib.crc32(f"hpb-seed/{case.slug}".encode())


def seed_case_imaging(*, case: Case, size: ImagingSize = "small", seed: int | None = None) -> IngestJob | None:
    """Give `case` the phantom study and structures; None when `size` is "none" or it already has them.

    Raises RuntimeError when the ingest job fails (a seed that cannot ingest its own phantom is a bug).
    """
    if size == "none":
        return None
    if size not in PHANTOM_DIMENSIONS:
        raise ValueError(f"Unknown imaging size {size!r}; expected one of {', '.join(IMAGING_SIZES)}.")
    seed = phantom_seed_for(case) if seed is None else seed
    existing = ImagingStudy.objects.filter(
        case=case, series_instance_uid=phantom_uid(seed, "phantom", "series")
    ).first()
    if existing is not None and existing.metadata.get("dimensions") == PHANTOM_DIMENSIONS[size]:
        return existing.ingest_job
    with tempfile.TemporaryDirectory(prefix="hpb-phantom-") as tmp:
        phantom = write_phantom(Path(tmp), size=size, seed=seed)
        job = ingest_local_paths(
            case=case,
            paths=[phantom.series_dir],
            segmentation=phantom.segmentation_path,
            source=IngestJob.Source.SEED,
            enqueue=False,
        )
        run_job(job_id=job.pk)
    job.refresh_from_db()
    if job.status != IngestJob.Status.SUCCEEDED:
        raise RuntimeError(f"Seeding the imaging of case {case.pk} failed: {job.error_code}: {job.error}")
    logger.info("Seeded %s phantom imaging for case %s (job %s)", size, case.pk, job.pk)
    return job
