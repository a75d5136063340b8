"""Where ingestion reads and writes: the key layout of the uploads and assets storages.

Keys never carry a patient identifier. Uploaded files are stored under neutral names
(`part-0001.dcm`), because file names from scanners and desktops often spell the patient's name;
derived assets are addressed by database ids only.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.utils.text import slugify

UPLOADS_ROOT = "uploads"
# A multi-file upload dropped straight into the bucket (scanner gateway) ends with this object; the
# listener starts the job when it appears. Its JSON body may name the segmentation and its labels.
MANIFEST_NAME = "complete.json"
SEGMENTATION_STEM = "segmentation"

_UPLOAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_EXTENSION = re.compile(r"^[a-z0-9]{1,8}$")


@dataclass(frozen=True)
class UploadKey:
    """A key of the uploads storage, split into the parts ingestion cares about."""

    case_id: int
    upload_id: str
    relative: str  # the path below the upload prefix

    @property
    def prefix(self) -> str:
        return upload_prefix(case_id=self.case_id, upload_id=self.upload_id)

    @property
    def is_archive(self) -> bool:
        return self.relative.lower().endswith(".zip")

    @property
    def is_manifest(self) -> bool:
        return self.relative == MANIFEST_NAME


def new_upload_id() -> str:
    return uuid.uuid4().hex


def upload_prefix(*, case_id: int, upload_id: str) -> str:
    return f"{UPLOADS_ROOT}/{case_id}/{upload_id}/"


def parse_upload_key(key: str) -> UploadKey | None:
    """`uploads/<case id>/<upload id>/<path>` -> its parts; None for any other key."""
    parts = key.split("/")
    if len(parts) < 4 or parts[0] != UPLOADS_ROOT or not parts[1].isdigit() or not _UPLOAD_ID.match(parts[2]):
        return None
    relative = "/".join(parts[3:])
    if not relative or any(p in ("", ".", "..") for p in parts[3:]):
        return None
    return UploadKey(case_id=int(parts[1]), upload_id=parts[2], relative=relative)


def safe_extension(name: str) -> str:
    """The lower-case extension of an uploaded file's name (`.dcm`, `.zip`, `.nii.gz`), or ''.

    Only the extension survives: the conversion library recognises archives and NIfTI by it.
    """
    lowered = PurePosixPath(name.replace("\\", "/")).name.lower()
    if lowered.endswith(".nii.gz"):
        return ".nii.gz"
    suffix = PurePosixPath(lowered).suffix[1:]
    return f".{suffix}" if _EXTENSION.match(suffix) else ""


def part_key(*, prefix: str, index: int, original_name: str) -> str:
    """The neutral key of the index-th file of an upload (1-based)."""
    return f"{prefix}part-{index:04d}{safe_extension(original_name)}"


def segmentation_key(*, prefix: str, original_name: str) -> str:
    return f"{prefix}{SEGMENTATION_STEM}{safe_extension(original_name)}"


def study_prefix(*, case_id: int, study_id: int) -> str:
    return f"cases/{case_id}/studies/{study_id}/"


def volume_key(*, case_id: int, study_id: int) -> str:
    return f"{study_prefix(case_id=case_id, study_id=study_id)}volume.vti"


def preview_key(*, case_id: int, study_id: int) -> str:
    return f"{study_prefix(case_id=case_id, study_id=study_id)}preview.png"


def structure_key(*, case_id: int, study_id: int, slug: str) -> str:
    return f"{study_prefix(case_id=case_id, study_id=study_id)}structures/{slug}.vtp"


def structure_slugs(names_and_labels: list[tuple[str, int]]) -> list[str]:
    """One distinct, URL-safe slug per structure, stable for the same names and labels."""
    slugs: list[str] = []
    for name, label in names_and_labels:
        slug = slugify(name) or f"label-{label}"
        if slug in slugs:
            slug = f"{slug}-{label}"
        slugs.append(slug)
    return slugs
