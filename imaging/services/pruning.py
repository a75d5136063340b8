"""Deleting the assets no row references: what a failed, killed or superseded run left behind.

Assets are keyed by study (`cases/<case id>/studies/<study id>/...`). A run stores its files before it
records the rows that point at them, so a run that fails or dies in between leaves files no row uses,
and a new segmentation leaves meshes of structures that are gone. Pruning a study's prefix deletes
exactly those, under the case's assets lock (another job of the case may be between storing and
recording). Uploads are never pruned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from hpb.storage import reference_for
from imaging.models import ImagingStudy, IngestJob
from imaging.services import keys, storage_io
from imaging.services.jobs import ASSETS
from imaging.services.locks import case_assets_lock

logger = logging.getLogger(__name__)


def prune_assets(*, case_id: int, study_ids: Iterable[int | None]) -> list[str]:
    """Delete every asset under the studies' prefixes that no row references; return the keys."""
    with case_assets_lock(case_id):
        return _prune_unlocked(case_id=case_id, study_ids=study_ids)


def prune_assets_quietly(*, case_id: int, study_ids: Iterable[int | None]) -> None:
    """Clean-up on a failure path must not hide the failure itself."""
    try:
        prune_assets(case_id=case_id, study_ids=study_ids)
    except Exception:
        logger.exception("Could not remove the unreferenced assets of case %s", case_id)


def prune_job_assets(*, job: IngestJob) -> list[str]:
    """Delete the assets a job's runs left that no row references (its studies and its reserved id)."""
    study_ids = set(ImagingStudy.objects.filter(ingest_job=job).values_list("pk", flat=True))
    return prune_assets(case_id=job.case_id, study_ids={*study_ids, job.reserved_study_id})


def prune_job_assets_quietly(*, job: IngestJob) -> None:
    try:
        prune_job_assets(job=job)
    except Exception:
        logger.exception("Could not remove the unreferenced assets of ingest job %s", job.pk)


def _prune_unlocked(*, case_id: int, study_ids: Iterable[int | None]) -> list[str]:
    deleted: list[str] = []
    for study_id in sorted({i for i in study_ids if i is not None}):
        referenced = _referenced(study_id)
        for stored in storage_io.list_files(ASSETS, keys.study_prefix(case_id=case_id, study_id=study_id)):
            if reference_for(ASSETS, stored.key) not in referenced:
                storage_io.delete(ASSETS, stored.key)
                deleted.append(stored.key)
    return deleted


def _referenced(study_id: int) -> set[str]:
    study = ImagingStudy.objects.filter(pk=study_id).first()
    if study is None:
        return set()
    referenced = {u for u in (study.volume_uri, study.preview_uri) if u}
    referenced.update(u for u in study.structures.values_list("mesh_uri", flat=True) if u)
    # The other levels of the volume and the meshes (metadata `levels[].file`, relative to the prefix).
    prefix = keys.study_prefix(case_id=study.case_id, study_id=study.pk)
    level_lists = [study.metadata.get("levels")]
    level_lists += [(m or {}).get("levels") for m in study.structures.values_list("metadata", flat=True)]
    for levels in level_lists:
        for level in levels if isinstance(levels, list) else []:
            if isinstance(level, dict) and isinstance(level.get("file"), str):
                referenced.add(reference_for(ASSETS, prefix + level["file"]))
    return referenced
