"""Viewer bundles: a published case as the folder the learnHPB viewer reads, in the `viewer` storage.

Layout (docs/viewer.md; the fields are those notes/viewer-facts.md lists), under `VIEWER_BUNDLE_PREFIX`:

    <prefix>/<folder>/manifest.json
    <prefix>/<folder>/ct-<version>_volume.vti            the volume (full or preview level)
    <prefix>/<folder>/segmentations/<structure>-<version>.vtp
    <prefix>/<folder>/clinical_files/<title>-<version>.pdf

`<folder>` is `case-` and 16 hex digits of an HMAC of the case id (`folder_name`): stable, and it names no
one (case slugs are written by curators and may). It is kept on the case's `ViewerBundle` row, so it
never changes once chosen. Every file name carries a version derived from its source (the object's
ETag or mtime, the level, the renderer), so new content always has a new name: the viewer fetches
files with `cache: 'force-cache'`, which would otherwise show a stale mesh after a curator's fix.

`sync_bundle(case_id=...)` makes the folder match the case: a published case gets its bundle; any
other status (draft, archived) removes it. It runs as a Celery task (`imaging.tasks.sync_viewer_bundle`,
sent by `imaging.services.enqueue.enqueue_bundle`, triggered by `imaging.services.bundles_triggers`)
under the case's assets lock, so it never reads a study an ingest job is replacing. It is cheap to run
again: the manifest's content hash is compared first, and files already present are not written again,
so several changes in a row cost one real rebuild.

Replacement is ordered so a reader never sees a manifest naming a missing file: new files first, the
manifest last (it names only files already written), then the files no manifest names any more.
Removal deletes the manifest first. Nothing in a bundle names the patient: only de-identified
documents go in, rewritten as PDFs without file metadata, and `bundles_privacy` checks every string.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from cases.models import Case, Document
from hpb import storage
from imaging.models import CaseStructure, ImagingStudy, ViewerBundle
from imaging.services import bundles_documents, bundles_storage, keys
from imaging.services.bundles_privacy import IdentifierCheck, identifier_check, strings_of
from imaging.services.jobs import ASSETS
from imaging.services.locks import case_assets_lock

logger = logging.getLogger(__name__)

VIEWER = bundles_storage.VIEWER
MANIFEST = "manifest.json"
SCHEMA = "hpb-viewer-bundle/1"
VOLUME_LEVELS = ("full", "preview")
MESH_LEVELS = ("full", "light")
_TYPES = {".vti": "application/octet-stream", ".vtp": "application/octet-stream", ".pdf": "application/pdf"}


class BundleRefusedError(Exception):
    """The case cannot be published to the viewer as it stands; the message tells a curator what to fix."""


@dataclass(frozen=True)
class PlannedFile:
    """One file of a bundle: copied from a stored object, or (documents) rendered from it."""

    path: str  # relative to the case folder
    source: str  # stored reference
    document: Document | None = None  # set when the file is the PDF of this document

    @property
    def content_type(self) -> str:
        return _TYPES.get(self.path[self.path.rfind(".") :], "application/octet-stream")


@dataclass
class BundlePlan:
    case_id: int
    folder: str
    manifest: dict[str, Any]  # without `timestamp`, `request_id` and `content_hash`
    files: list[PlannedFile]
    withheld: list[dict[str, str]] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.manifest, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class BundleOutcome:
    case_id: int
    action: str  # published | unchanged | removed | absent | refused | missing
    folder: str = ""
    written: int = 0
    deleted: int = 0
    message: str = ""


# --- Names ------------------------------------------------------------------------------------------


def base_prefix() -> str:
    return str(settings.VIEWER_BUNDLE_PREFIX).strip("/")


def folder_prefix(folder: str) -> str:
    base = base_prefix()
    return f"{base}/{folder}/" if base else f"{folder}/"


def _folder_secret() -> bytes:
    secret = str(getattr(settings, "VIEWER_FOLDER_SECRET", "") or "")
    if secret:
        return secret.encode()
    return hashlib.sha256(b"hpb.viewer.folder\n" + settings.SECRET_KEY.encode()).digest()


def folder_name(case_id: int) -> str:
    """`case-<16 hex>`: an HMAC of the case id, so folders can be neither read nor guessed from ids."""
    digest = hmac.new(_folder_secret(), f"case:{case_id}".encode(), hashlib.sha256).hexdigest()
    return f"case-{digest[:16]}"


def _bundle_row(case_id: int) -> ViewerBundle:
    row, _ = ViewerBundle.objects.get_or_create(case_id=case_id, defaults={"folder": folder_name(case_id)})
    return row


# --- Planning ---------------------------------------------------------------------------------------


def _level_choice(setting: str, allowed: tuple[str, ...]) -> str:
    value = str(getattr(settings, setting, allowed[0]))
    return value if value in allowed else allowed[0]


def _study_prefix(reference: str) -> str:
    return storage.parse_reference(reference, default_alias=ASSETS).key.rsplit("/", 1)[0] + "/"


def _levels(metadata: Any) -> dict[str, dict[str, Any]]:
    levels = metadata.get("levels") if isinstance(metadata, dict) else None
    return {str(lv.get("name")): lv for lv in levels or [] if isinstance(lv, dict) and isinstance(lv.get("file"), str)}


def _number(value: Any) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _version(reference: str, *parts: str) -> str | None:
    identity = bundles_storage.identify(reference)
    return identity.digest(*parts)[:10] if identity is not None else None


def _volume(study: ImagingStudy, plan: BundlePlan) -> dict[str, Any] | None:
    metadata = study.metadata if isinstance(study.metadata, dict) else {}
    level = _level_choice("VIEWER_BUNDLE_VOLUME", VOLUME_LEVELS)
    levels = _levels(metadata)
    source, dims, spacing = study.volume_uri, metadata.get("dimensions"), metadata.get("spacing")
    if level != "full" and level in levels:
        chosen = levels[level]
        source = storage.reference_for(ASSETS, _study_prefix(study.volume_uri) + chosen["file"])
        dims, spacing = chosen.get("dimensions"), chosen.get("spacing")
    else:
        level = "full"
    version = _version(source, "volume", level)
    if version is None:
        plan.withheld.append(
            {"item": "volume", "reason": "The study's volume file is missing from the assets storage."}
        )
        return None
    path = f"ct-{version}_volume.vti"
    plan.files.append(PlannedFile(path=path, source=source))
    entry: dict[str, Any] = {"output": path, "level": level, "modality": study.modality}
    if isinstance(dims, list) and len(dims) == 3:
        entry["dimensions"] = [int(d) for d in dims]
    if isinstance(spacing, list) and len(spacing) == 3:
        entry["spacing"] = [float(s) for s in spacing]
    entry["levels"] = sorted(levels)
    return entry


def _structures(case: Case, study: ImagingStudy | None, plan: BundlePlan) -> list[dict[str, Any]]:
    rows = CaseStructure.objects.filter(case=case).exclude(mesh_uri="")
    if study is not None:
        rows = rows.filter(Q(imaging_study=study) | Q(imaging_study__isnull=True))
    rows = rows.order_by("imaging_study_id", "name", "id")
    structures = list(rows)
    level = _level_choice("VIEWER_BUNDLE_MESHES", MESH_LEVELS)
    entries = []
    slugs = keys.structure_slugs([(s.name, int((s.metadata or {}).get("label") or s.pk)) for s in structures])
    for structure, slug in zip(structures, slugs, strict=True):
        source, used = structure.mesh_uri, "full"
        levels = _levels(structure.metadata)
        if level == "light" and "light" in levels:
            source = storage.reference_for(ASSETS, _study_prefix(structure.mesh_uri) + levels["light"]["file"])
            used = "light"
        version = _version(source, "mesh", used)
        if version is None:
            plan.withheld.append({"item": f"structure {structure.pk}", "reason": "Its mesh file is missing."})
            continue
        path = f"segmentations/{slug}-{version}.vtp"
        plan.files.append(PlannedFile(path=path, source=source))
        metadata = structure.metadata if isinstance(structure.metadata, dict) else {}
        entry = {"output": path, "display_name": structure.name, "color_hex": structure.color_hex, "level": used}
        for name in ("label", "volume_ml", "cell_count"):
            if isinstance(metadata.get(name), int | float):
                entry[name] = metadata[name]
        chosen = levels.get(used)
        if chosen is not None and isinstance(chosen.get("cell_count"), int):
            entry["cell_count"] = chosen["cell_count"]
        entries.append(entry)
    return entries


def _documents(case: Case, check: IdentifierCheck, plan: BundlePlan) -> list[dict[str, Any]]:
    entries = []
    used: set[str] = set()
    for document in Document.objects.filter(cases=case, deidentified=True).order_by("created_at", "id"):
        item = f"document {document.pk}"
        if not bundles_documents.publishable_type(document.mime_type):
            plan.withheld.append({"item": item, "reason": f"Documents of type {document.mime_type} are not published."})
            continue
        found = check.found("\n".join([document.title, document.summary, document.full_text]))
        if found:
            plan.withheld.append({"item": item, "reason": f"Its title, summary or text contains {', '.join(found)}."})
            continue
        version = _version(document.storage_uri, bundles_documents.RENDERER_VERSION, document.mime_type, document.title)
        if version is None:
            plan.withheld.append({"item": item, "reason": "Its file is missing from the documents storage."})
            continue
        stem = slugify(document.title)[:50].strip("-") or "document"
        while stem in used:
            stem = f"{stem}-{document.pk}"
        used.add(stem)
        path = f"clinical_files/{stem}-{version}.pdf"
        plan.files.append(PlannedFile(path=path, source=document.storage_uri, document=document))
        entries.append({"title": document.title, "filename": path, "summary": document.summary})
    return entries


def _display_names(segmentations: list[dict[str, Any]]) -> dict[str, str]:
    meshes: dict[str, str] = {}
    for entry in segmentations:
        name, n = entry["display_name"], 2
        while name in meshes:
            name, n = f"{entry['display_name']} ({n})", n + 1
        meshes[name] = entry["output"]
    return meshes


def _metadata(volume: dict[str, Any] | None, n_structures: int, n_documents: int) -> dict[str, str]:
    metadata = {"voxels": "", "spacing": "", "notes": ""}
    notes = []
    if volume is not None:
        if "dimensions" in volume:
            metadata["voxels"] = " × ".join(str(d) for d in volume["dimensions"])
        if "spacing" in volume:
            metadata["spacing"] = " × ".join(f"{_number(s)} mm" for s in volume["spacing"])
        level = "half-resolution preview" if volume["level"] == "preview" else "full resolution"
        notes.append(f"{volume['modality']} volume at {level}.")
    else:
        notes.append("No CT volume is published for this case.")
    notes.append(f"{n_structures} segmented structure{'s' if n_structures != 1 else ''}, ")
    notes[-1] += f"{n_documents} de-identified document{'s' if n_documents != 1 else ''}."
    notes.append("Published by the HPB case platform.")
    metadata["notes"] = " ".join(notes)
    return metadata


def plan_bundle(case: Case, *, folder: str) -> BundlePlan:
    """What the bundle of `case` would hold now. Raises BundleRefusedError when its text names the patient."""
    plan = BundlePlan(case_id=case.pk, folder=folder, manifest={}, files=[])
    check = identifier_check(case.patient)
    study = ImagingStudy.objects.filter(case=case).exclude(volume_uri="").order_by("acquired_at", "id").first()
    volume = _volume(study, plan) if study is not None else None
    segmentations = _structures(case, study, plan)
    documents = _documents(case, check, plan)
    manifest: dict[str, Any] = {
        "schema": SCHEMA,
        "case_id": folder,
        "title": case.title,
        "focus": case.focus,
        "specialty": case.specialty,
        "meshes": _display_names(segmentations),
        "segmentations": segmentations,
        "documents": documents,
        "metadata": _metadata(volume, len(segmentations), len(documents)),
        "files": [{"path": f.path, "content_type": f.content_type} for f in plan.files],
    }
    if volume is not None:
        manifest["volume"] = volume
    found = sorted({kind for text in strings_of(manifest) for kind in check.found(text)})
    if found:
        raise BundleRefusedError(
            f"The case's title, focus or structure names contain {', '.join(found)} of its patient: "
            "change them, then publish again. Nothing was published to the viewer."
        )
    plan.manifest = manifest
    return plan


# --- Writing ----------------------------------------------------------------------------------------


def sync_bundle(*, case_id: int) -> BundleOutcome:
    """Make the case's folder in the viewer storage match the case (see the module docstring)."""
    with case_assets_lock(case_id):
        case = Case.objects.select_related("patient").filter(pk=case_id).first()
        if case is None:
            return BundleOutcome(case_id=case_id, action="missing", message="No such case.")
        row = _bundle_row(case_id)
        if case.status != Case.Status.PUBLISHED:
            return _remove(row)
        try:
            plan = plan_bundle(case, folder=row.folder)
        except BundleRefusedError as exc:
            outcome = _remove(row)
            ViewerBundle.objects.filter(pk=row.pk).update(error=str(exc), withheld=[])
            logger.warning("Viewer bundle of case %s refused: %s", case_id, exc)
            return BundleOutcome(
                case_id=case_id, action="refused", folder=row.folder, deleted=outcome.deleted, message=str(exc)
            )
        return _publish(row, plan)


def _publish(row: ViewerBundle, plan: BundlePlan) -> BundleOutcome:
    prefix = folder_prefix(plan.folder)
    present = bundles_storage.list_keys(prefix)
    wanted = {prefix + f.path for f in plan.files} | {prefix + MANIFEST}
    content_hash = plan.content_hash
    if row.published_at is not None and row.content_hash == content_hash and wanted <= set(present):
        stale = sorted(set(present) - wanted)
        bundles_storage.delete_keys(stale)
        ViewerBundle.objects.filter(pk=row.pk).update(withheld=plan.withheld, error="")
        return BundleOutcome(case_id=plan.case_id, action="unchanged", folder=plan.folder, deleted=len(stale))
    written = 0
    for planned in list(plan.files):
        if prefix + planned.path in present:
            continue  # the version is in the name: a file of this name already has this content
        try:
            _write(prefix + planned.path, planned)
        except bundles_documents.DocumentNotPublishableError as exc:
            _drop_document(plan, planned, reason=str(exc))
            continue
        written += 1
    wanted = {prefix + f.path for f in plan.files} | {prefix + MANIFEST}
    content_hash = plan.content_hash
    manifest = {**plan.manifest, "timestamp": int(time.time()), "request_id": f"bundle-{content_hash[:12]}"}
    manifest["content_hash"] = content_hash
    bundles_storage.put_bytes(
        prefix + MANIFEST,
        json.dumps(manifest, indent=2, ensure_ascii=False).encode(),
        content_type="application/json",
        cache_control=bundles_storage.REVALIDATE,
    )
    stale = sorted(set(present) - wanted)
    bundles_storage.delete_keys(stale)
    ViewerBundle.objects.filter(pk=row.pk).update(
        manifest=manifest, content_hash=content_hash, published_at=timezone.now(), withheld=plan.withheld, error=""
    )
    logger.info("Viewer bundle %s of case %s published (%s files written)", plan.folder, plan.case_id, written + 1)
    return BundleOutcome(
        case_id=plan.case_id, action="published", folder=plan.folder, written=written + 1, deleted=len(stale)
    )


def _drop_document(plan: BundlePlan, planned: PlannedFile, *, reason: str) -> None:
    """Leave out a document whose file could not become a clean PDF (the manifest no longer names it)."""
    plan.files.remove(planned)
    manifest = plan.manifest
    manifest["documents"] = [d for d in manifest["documents"] if d["filename"] != planned.path]
    manifest["files"] = [f for f in manifest["files"] if f["path"] != planned.path]
    count = len(manifest["documents"])
    manifest["metadata"]["notes"] = manifest["metadata"]["notes"].replace(
        f"{count + 1} de-identified document{'s' if count + 1 != 1 else ''}",
        f"{count} de-identified document{'s' if count != 1 else ''}",
    )
    item = f"document {planned.document.pk}" if planned.document is not None else planned.path
    plan.withheld.append({"item": item, "reason": reason})


def _write(key: str, planned: PlannedFile) -> None:
    cache = bundles_storage.IMMUTABLE
    if planned.document is None:
        bundles_storage.copy_object(planned.source, key, content_type=planned.content_type, cache_control=cache)
        return
    document = planned.document
    data = bundles_documents.as_pdf(
        data=bundles_storage.read_bytes(planned.source), mime_type=document.mime_type, title=document.title
    )
    bundles_storage.put_bytes(key, data, content_type=bundles_documents.PDF, cache_control=cache)


def _remove(row: ViewerBundle) -> BundleOutcome:
    """Take the case's folder down: the manifest first, so no reader follows it to deleted files."""
    deleted = remove_folder(row.folder)
    if row.published_at is not None or row.manifest:
        ViewerBundle.objects.filter(pk=row.pk).update(manifest={}, content_hash="", published_at=None, withheld=[])
    action = "removed" if deleted else "absent"
    return BundleOutcome(case_id=row.case_id, action=action, folder=row.folder, deleted=deleted)


def remove_folder(folder: str) -> int:
    prefix = folder_prefix(folder)
    present = sorted(bundles_storage.list_keys(prefix))
    manifest = [k for k in present if k == prefix + MANIFEST]
    bundles_storage.delete_keys(manifest)
    bundles_storage.delete_keys([k for k in present if k not in manifest])
    return len(present)


def prune_folders() -> list[str]:
    """Remove every folder under the prefix that is not the bundle of a published case; their names."""
    keep = set(
        ViewerBundle.objects.filter(published_at__isnull=False, case__status=Case.Status.PUBLISHED).values_list(
            "folder", flat=True
        )
    )
    removed = [folder for folder in bundles_storage.list_folders(base_prefix()) if folder not in keep]
    for folder in removed:
        remove_folder(folder)
    return removed


def sync_cases(*, case_ids: Iterable[int]) -> list[BundleOutcome]:
    return [sync_bundle(case_id=case_id) for case_id in case_ids]


# --- The manifest in the API ----------------------------------------------------------------------------


def signed_manifest(
    manifest: dict[str, Any], *, folder: str, request: Any = None, lightweight: bool = False
) -> dict[str, Any]:
    """The bundle's manifest with a short-lived URL beside every relative path (`url`, `mesh_urls`)."""
    prefix = folder_prefix(folder)

    def url(path: Any) -> str | None:
        if not isinstance(path, str) or not path:
            return None
        return storage.signed_url(storage.reference_for(VIEWER, prefix + path), request=request)

    signed = json.loads(json.dumps(manifest))
    volume = signed.get("volume")
    if isinstance(volume, dict):
        volume["url"] = None if lightweight else url(volume.get("output"))
    for entry in signed.get("segmentations") or []:
        entry["url"] = url(entry.get("output"))
    signed["mesh_urls"] = {name: url(path) for name, path in (signed.get("meshes") or {}).items()}
    for entry in signed.get("documents") or []:
        entry["url"] = url(entry.get("filename"))
    for entry in signed.get("files") or []:
        entry["url"] = None if lightweight and entry.get("path", "").endswith(".vti") else url(entry.get("path"))
    return signed


def published_manifests(*, case_ids: Iterable[int], request: Any = None, lightweight: bool = False) -> dict[int, Any]:
    """The signed manifest of each published bundle among `case_ids` (one query whatever their number)."""
    rows = ViewerBundle.objects.filter(case_id__in=list(case_ids), published_at__isnull=False)
    return {
        case_id: signed_manifest(manifest, folder=folder, request=request, lightweight=lightweight)
        for case_id, folder, manifest in rows.values_list("case_id", "folder", "manifest")
    }
