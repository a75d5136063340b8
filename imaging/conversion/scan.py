"""The header scan: every file of the upload read once, headers only, and sorted into series.

Anything that is not a CT image (DICOMDIR, reports, localizers, segmentations, stray text files) is
counted, not kept. Each CT image's declared sizes are checked against its bytes and the caps
(``declared``) before a single frame is described; files without a SeriesInstanceUID are grouped
by geometry (``grouping``). Files without a preamble or File Meta are read when their first bytes are
a DICOM element (what dcm2niix and most viewers accept), and a SOP class missing from the dataset is
taken from the File Meta, or from the Modality when the File Meta is missing too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from . import declared, grouping, pydicom_warnings
from .declared import DeclaredSizeError, HeaderCaps
from .errors import INTERRUPTIONS
from .headers import (
    CT_CLASSES,
    CT_IMAGE_STORAGE,
    MEDIA_STORAGE_DIRECTORY,
    SCAN_TAGS,
    SEGMENTATION_STORAGE,
    FrameHeader,
    acquired_at,
    describe_sop_class,
    frames_of,
    is_localizer,
    modality_of,
    pixel_format,
    printable,
)
from .series import ScanResult, SeriesInfo

_EXPLICIT_VRS = frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)
_ARCHIVE_MAGIC = {
    b"\x1f\x8b": "gzip archives (not opened: upload a zip)",
    b"7z\xbc\xaf": "7-Zip archives (not opened: upload a zip)",
    b"Rar!": "RAR archives (not opened: upload a zip)",
    b"PK\x03\x04": "zip archives inside a zip (not opened: zip the files themselves)",
}
_ENCODINGS = {
    (True, True): "1.2.840.10008.1.2",
    (False, True): "1.2.840.10008.1.2.1",
    (False, False): "1.2.840.10008.1.2.2",
}


def _looks_like_raw_dataset(path: Path) -> bool:
    """The file starts with a group 0002 or 0008 element (a dataset written without preamble/File Meta)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    if len(head) < 8:
        return False
    group_le, group_be = int.from_bytes(head[:2], "little"), int.from_bytes(head[:2], "big")
    if group_le in (0x0002, 0x0008):
        return head[4:6] in _EXPLICIT_VRS or int.from_bytes(head[4:8], "little") < 1 << 16
    return group_be == 0x0008 and head[4:6] in _EXPLICIT_VRS


def _non_dicom_kind(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(262)
    except OSError:
        head = b""
    for magic, kind in _ARCHIVE_MAGIC.items():
        if head.startswith(magic):
            return kind
    if head[257:262] == b"ustar":
        return "tar archives (not opened: upload a zip)"
    suffix = printable(path.suffix.lower(), 16) or "no extension"
    return f"non-DICOM files ({suffix})"


def _read(path: Path, caps: HeaderCaps) -> tuple[Dataset, int, bool]:
    """The header, the Pixel Data offset, and whether the file had no preamble/File Meta."""
    try:
        ds, offset = declared.guarded_read(path, caps, specific_tags=SCAN_TAGS)
        return ds, offset, False
    except InvalidDicomError:
        if not _looks_like_raw_dataset(path):
            raise
    ds, offset = declared.guarded_read(path, caps, specific_tags=SCAN_TAGS, force=True)
    return ds, offset, True


@pydicom_warnings.logged_only()  # every file of the upload is parsed, damaged ones included
def scan_files(paths: Iterable[Path], *, caps: HeaderCaps | None = None) -> ScanResult:
    """Read the headers of ``paths`` and group the CT images by series."""
    caps = caps or HeaderCaps()
    result = ScanResult()
    pending: dict[grouping.GroupKey, SeriesInfo] = {}
    for path in paths:
        try:
            ds, pixel_offset, raw = _read(path, caps)
        except InvalidDicomError:
            result.others[_non_dicom_kind(path)] += 1
            continue
        except DeclaredSizeError as exc:
            result.refused.append((path, exc.code, exc.reason))
            continue
        except INTERRUPTIONS:
            raise
        except Exception as exc:  # noqa: BLE001 - bad bytes raise anything; report, never crash
            result.damaged.append((path, printable(f"{type(exc).__name__}: {exc}", 200)))
            continue
        try:
            _classify(path, ds, result, pending, pixel_offset=pixel_offset, raw=raw, caps=caps)
        except DeclaredSizeError as exc:
            result.refused.append((path, exc.code, exc.reason))
        except INTERRUPTIONS:
            raise
        except Exception as exc:  # noqa: BLE001 - malformed values inside a parsable file
            result.damaged.append((path, printable(f"{type(exc).__name__}: {exc}", 200)))
    grouping.finish(result, pending)
    return result


def _sop_class(ds: Dataset, modality: str, quirks: list[str]) -> str:
    """The SOP class: the dataset's, else the File Meta's, else CT Image Storage for a CT image."""
    own = str(ds.get("SOPClassUID") or "")
    if own:
        return own
    meta = getattr(ds, "file_meta", None)
    from_meta = str(meta.get("MediaStorageSOPClassUID") or "") if meta is not None else ""
    if from_meta:
        quirks.append("sop_class_from_meta")
        return from_meta
    if modality == "CT" and "Rows" in ds and "Columns" in ds:
        quirks.append("sop_class_from_modality")
        return CT_IMAGE_STORAGE
    return ""


def _transfer_syntax(ds: Dataset, raw: bool) -> str:
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if syntax:
        return syntax
    encoding = ds.original_encoding if raw else (True, True)
    return _ENCODINGS.get((bool(encoding[0]), bool(encoding[1])), "")


def _missing_image_parts(ds: Dataset, pixel_offset: int, path: Path, raw: bool) -> list[str]:
    missing = [keyword for keyword in ("Rows", "Columns") if keyword not in ds]
    # A deflated file's offset counts inflated bytes; its pixel data is checked when it is decoded.
    if _transfer_syntax(ds, raw) != declared.DEFLATED and pixel_offset >= path.stat().st_size:
        missing.append("Pixel Data")
    return missing


def _classify(
    path: Path,
    ds: Dataset,
    result: ScanResult,
    pending: dict[grouping.GroupKey, SeriesInfo],
    *,
    pixel_offset: int,
    raw: bool,
    caps: HeaderCaps,
) -> None:
    quirks = ["raw_dataset"] if raw else []
    modality = modality_of(ds)
    sop_class = _sop_class(ds, modality, quirks)
    if sop_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        result.others["DICOMDIR"] += 1
        return
    if sop_class == SEGMENTATION_STORAGE:
        result.segmentations.append(path)
        result.others["DICOM SEG segmentations"] += 1
        return
    series_uid = printable(ds.get("SeriesInstanceUID") or "", 64)
    if sop_class in CT_CLASSES:
        missing = _missing_image_parts(ds, pixel_offset, path, raw)
        if missing:
            # pydicom reads a truncated file without complaint, up to where it ends: a CT image that
            # lacks its Type 1 image attributes is a damaged file, not something to skip silently.
            result.damaged.append((path, f"a CT image without {' and '.join(missing)}: truncated or incomplete"))
            return
    elif "Rows" not in ds or "Columns" not in ds:
        result.others[f"{describe_sop_class(sop_class)} objects without image data"] += 1
        return
    if sop_class not in CT_CLASSES or is_localizer(ds):
        _set_aside(ds, result, pending, sop_class=sop_class, modality=modality, series_uid=series_uid)
        return
    _add_image(path, ds, result, pending, pixel_offset=pixel_offset, raw=raw, caps=caps, quirks=quirks)


def _set_aside(
    ds: Dataset,
    result: ScanResult,
    pending: dict[grouping.GroupKey, SeriesInfo],
    *,
    sop_class: str,
    modality: str,
    series_uid: str,
) -> None:
    """An image that is not part of a CT volume: a localizer, an MR image, a secondary capture."""
    localizer = is_localizer(ds)
    kind = f"{modality} localizer images" if localizer else f"{modality} images ({describe_sop_class(sop_class)})"
    result.others[kind] += 1
    if series_uid:
        prev = result.other_series.get(series_uid, (kind, 0))
        result.other_series[series_uid] = (prev[0], prev[1] + 1)
        if localizer:
            result.localizers[series_uid] += 1


def _add_image(
    path: Path,
    ds: Dataset,
    result: ScanResult,
    pending: dict[grouping.GroupKey, SeriesInfo],
    *,
    pixel_offset: int,
    raw: bool,
    caps: HeaderCaps,
    quirks: list[str],
) -> None:
    """A CT image: its declared sizes checked, its frames described, added to its series."""
    fmt = pixel_format(ds)
    declared.check_pixel_format(fmt)
    transfer_syntax = _transfer_syntax(ds, raw)
    declared.check_pixel_bytes(path, pixel_offset, transfer_syntax, fmt)
    declared.check_frames(ds, fmt, caps)
    frames = frames_of(path, ds, transfer_syntax, pixel_offset, raw_dataset=raw, fmt=fmt)
    series_uid = printable(ds.get("SeriesInstanceUID") or "", 64)
    if series_uid:
        series = result.series.get(series_uid) or _new_series(ds, series_uid, modality_of(ds))
        result.series[series_uid] = series
    else:
        key, used = grouping.group_key(ds, frames[0], modality_of(ds))
        series = pending.get(key) or _new_series(ds, "", modality_of(ds), formed_by=used)
        pending[key] = series
    if len(series.frames) + len(frames) > caps.max_frames:
        raise DeclaredSizeError(
            "too_many_frames", f"its series would hold more than {caps.max_frames:,} frames (the cap of one series)"
        )
    _note_quirks(ds, frames, transfer_syntax, quirks)
    series.quirks.update(quirks)
    series.frames.extend(frames)
    series.identities.append(grouping.identity(ds, frames[0]))
    series.files += 1


def _note_quirks(ds: Dataset, frames: list[FrameHeader], transfer_syntax: str, quirks: list[str]) -> None:
    if not all(f.rescaled for f in frames):
        quirks.append("no_rescale")
    if str(ds.get("LossyImageCompression") or "") == "01" or transfer_syntax in grouping.LOSSY_SYNTAXES:
        quirks.append("lossy")
    if not ds.get("StudyInstanceUID"):
        quirks.append("no_study_uid")


def _new_series(ds: Dataset, uid: str, modality: str, *, formed_by: tuple[str, ...] = ()) -> SeriesInfo:
    sop_class = str(ds.get("SOPClassUID") or "") or (
        str(ds.file_meta.get("MediaStorageSOPClassUID") or "") if getattr(ds, "file_meta", None) else ""
    )
    return SeriesInfo(
        uid=uid,
        sop_class_uid=sop_class or CT_IMAGE_STORAGE,
        modality=modality,
        study_uid=printable(ds.get("StudyInstanceUID") or "", 64) or None,
        frame_of_reference_uid=printable(ds.get("FrameOfReferenceUID") or "", 64) or None,
        acquired_at=acquired_at(ds),
        slice_thickness=grouping.thickness(ds),
        formed_by=formed_by,
    )
