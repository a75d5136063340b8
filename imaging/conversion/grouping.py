"""Series from files that lack their UIDs: grouped by geometry, given stable generated UIDs.

Anonymisers, PACS gateways and old archives remove ``SeriesInstanceUID`` and ``StudyInstanceUID``
(sometimes the SOP Class UID too, which the File Meta still names). dcm2niix converts such files;
so does this library. Files without a series UID are grouped by what identifies a series
geometrically: the study UID and Frame of Reference UID when present, the image orientation (to
0.001), rows and columns, pixel spacing (to 0.001 mm), the modality, and the SeriesNumber and
SeriesDescription when present. AcquisitionNumber is *not* a grouping key: sequential scanners
number every rotation, so it would cut one series into many; it splits a group only where slice
positions repeat (``stacks``).

Each group gets UIDs ``2.25.<128-bit hash>`` of its grouping key and of what identifies each of its
files (SOPInstanceUID, else position, InstanceNumber and AcquisitionNumber), so the same files
always get the same UIDs: a re-upload updates the same study instead of adding one. A missing study
UID is derived from the Frame of Reference UID when there is one (the series of one scan share it).
Every group says in a warning what was missing and how it was formed; the messages name the
attributes, never their values (descriptions are free text and may name people).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable

from pydicom.dataset import Dataset

from .headers import FrameHeader, floats, optional_int, text_value
from .series import ScanResult, SeriesInfo

GroupKey = tuple[object, ...]

# quirk -> sentence, with {n} the number of files; ``describe`` renders them in this order.
QUIRK_MESSAGES = {
    "sop_class_from_meta": (
        "{n} file(s) have no SOPClassUID in their dataset; the class was taken from their File Meta."
    ),
    "sop_class_from_modality": (
        "{n} file(s) have no SOP Class UID in their dataset or File Meta; they were read as CT images because "
        "their Modality is CT and they hold an image."
    ),
    "raw_dataset": (
        "{n} file(s) have no preamble or File Meta; their encoding was recognised from the data itself "
        "and they were read as they are."
    ),
    "no_rescale": (
        "{n} file(s) have no RescaleSlope/RescaleIntercept; their stored values were taken as Hounsfield "
        "units (slope 1, intercept 0)."
    ),
    "lossy": (
        "{n} file(s) are lossy-compressed (LossyImageCompression 01 or a lossy transfer syntax): Hounsfield "
        "values are approximate."
    ),
}
LOSSY_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",  # JPEG baseline
        "1.2.840.10008.1.2.4.51",  # JPEG extended
        "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
        "1.2.840.10008.1.2.4.91",  # JPEG 2000 (lossy allowed)
        "1.2.840.10008.1.2.4.203",  # HTJ2K
    }
)


def _round(values: Iterable[float] | None, digits: int) -> tuple[float, ...] | None:
    return None if values is None else tuple(round(v, digits) + 0.0 for v in values)


def group_key(ds: Dataset, frame: FrameHeader, modality: str) -> tuple[GroupKey, tuple[str, ...]]:
    """The key that groups a file without SeriesInstanceUID, and the names of the attributes it used."""
    parts: list[tuple[str, object]] = [
        ("StudyInstanceUID", str(ds.get("StudyInstanceUID") or "") or None),
        ("FrameOfReferenceUID", str(ds.get("FrameOfReferenceUID") or "") or None),
        ("image orientation", _round(frame.orientation, 3)),
        ("rows and columns", (frame.rows, frame.columns) if frame.rows and frame.columns else None),
        ("pixel spacing", _round(frame.pixel_spacing, 3)),
        ("modality", modality if modality != "?" else None),
        ("SeriesNumber", optional_int(ds.get("SeriesNumber"))),
        ("SeriesDescription", text_value(ds, "SeriesDescription")),
    ]
    key = tuple(value for _, value in parts)
    used = tuple(name for name, value in parts if value is not None)
    return key, used


def identity(ds: Dataset, frame: FrameHeader) -> str:
    """What tells this file apart from the others of its series (the generated UIDs hash it)."""
    sop = str(ds.get("SOPInstanceUID") or "")
    if sop:
        return sop
    position = _round(frame.position, 3)
    return f"{position}|{frame.instance_number}|{frame.acquisition_number}|{frame.frame}"


def generated_uid(*parts: object) -> str:
    """A DICOM UID under the 2.25 root (a UUID as an integer) derived from ``parts``: stable across runs."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return f"2.25.{uuid.UUID(bytes=digest[:16]).int}"


def finish(result: ScanResult, pending: dict[GroupKey, SeriesInfo]) -> None:
    """Give each group formed without a UID its generated UIDs; describe every series' quirks."""
    for key, series in pending.items():
        material = sorted(series.identities)
        series.uid = generated_uid("hpb-series-v1", key, *material)
        if series.uid in result.series:  # the same files twice in one upload: one series is enough
            continue
        result.series[series.uid] = series
    for series in result.series.values():
        if series.study_uid is None:
            basis = series.frame_of_reference_uid or series.uid
            series.study_uid = generated_uid("hpb-study-v1", basis)
            series.generated_study_uid = True
        series.warnings.extend(describe(series))


def describe(series: SeriesInfo) -> list[str]:
    """Sentences that say what the series' files lacked and how the series was formed."""
    notes = []
    if series.generated_uid:
        notes.append(
            f"{series.files} file(s) have no SeriesInstanceUID; they were grouped into one series by "
            f"{', '.join(series.formed_by) or 'nothing at all (no attribute to tell series apart)'} and given "
            f"the generated SeriesInstanceUID {series.uid} (the same files always get the same one)."
        )
    if series.generated_study_uid:
        basis = "the Frame of Reference UID" if series.frame_of_reference_uid else "the series' generated UID"
        lacking = series.quirks.get("no_study_uid", series.files)
        notes.append(
            f"{lacking} file(s) have no StudyInstanceUID; the study was given the generated UID "
            f"{series.study_uid}, derived from {basis}."
        )
    for quirk, message in QUIRK_MESSAGES.items():
        if series.quirks.get(quirk):
            notes.append(message.format(n=series.quirks[quirk]))
    if series.frame_of_reference_uid is None:
        notes.append(
            "The series has no FrameOfReferenceUID: a DICOM SEG cannot be matched to it by UID (a segmentation "
            "given with the upload is placed by its geometry alone)."
        )
    return notes


def thickness(ds: Dataset) -> float | None:
    one = floats(ds.get("SliceThickness"), 1)
    return one[0] if one else None
