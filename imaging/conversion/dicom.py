"""DICOM series discovery, validation, sorting and pixel reading.

Three passes, each cheap before the next expensive one:

1. ``scan_files`` (``scan``): headers only, every declared size checked against the bytes and the
   caps (``declared``), images grouped by SeriesInstanceUID or, without one, by geometry
   (``grouping``); anything that is not a CT image (DICOMDIR, reports, localizers, stray text files)
   is counted, not kept. ``choose_series`` takes the longest series and its main stack (``stacks``).
2. ``plan_series``: geometry checks on the headers of the chosen series, sorting along the slice
   normal, the stored layout (see ``geometry``), the output dtype and the memory estimate. Every
   refusal says which series, where, and how much.
3. ``read_volume``: decode each frame once, straight into its place in one preallocated array, in
   Hounsfield units (the pixel quirks of ``quirks`` answered on the way). No list of datasets with
   pixel data is ever kept.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_decoder, iter_pixels, pixel_array
from pydicom.uid import UID

from . import pydicom_warnings, quirks, stacks
from .errors import INTERRUPTIONS, IngestError
from .geometry import Layout, plan_layout
from .headers import (
    CT_CLASSES,
    CT_IMAGE_STORAGE,
    ENHANCED_CT_IMAGE_STORAGE,
    LEGACY_ENHANCED_CT_IMAGE_STORAGE,
    MEDIA_STORAGE_DIRECTORY,
    SEGMENTATION_STORAGE,
    FrameHeader,
    functional_group_value,
    printable,
)
from .scan import scan_files
from .series import ScanResult, SeriesInfo

__all__ = [
    "CT_CLASSES",
    "CT_IMAGE_STORAGE",
    "ENHANCED_CT_IMAGE_STORAGE",
    "LEGACY_ENHANCED_CT_IMAGE_STORAGE",
    "MEDIA_STORAGE_DIRECTORY",
    "SEGMENTATION_STORAGE",
    "FrameHeader",
    "ScanResult",
    "SeriesInfo",
    "SeriesPlan",
    "Volume",
    "choose_series",
    "functional_group_value",
    "plan_series",
    "read_volume",
    "scan_files",
]

_ORIENTATION_ATOL = 1e-3  # direction cosines; ~0.06 degrees
_SPACING_RTOL = 1e-3
_MAX_LISTED = 5


# --------------------------------------------------------------------------------------- choose


def _found_summary(scan: ScanResult) -> str:
    parts = [f"{kind}: {n}" for kind, n in sorted(scan.others.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ", ".join(parts) if parts else "nothing at all"


_ACTIONS = {
    "declared_size_mismatch": "The files are damaged or were written by a broken exporter: re-export the series.",
    "implausible_header": "The export is broken: re-export the series from the PACS.",
    "too_many_frames": "Upload the series in parts, or ask an administrator to raise the frame cap.",
    "header_too_large": "These are not ordinary image headers: re-export the series from the PACS.",
    "corrupt_pixel_data": "The files are probably truncated: re-export the series and upload it again.",
    "archive_too_large": "The files were refused unopened: re-export the series uncompressed.",
    "damaged_file": "Re-export the series from the PACS and upload it again.",
}


def _listed(items: list[tuple[Path, str]]) -> str:
    shown = "; ".join(f"{printable(p.name, 80)} ({why})" for p, why in items[:_MAX_LISTED])
    return shown + (f"; and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _refuse_untrusted(scan: ScanResult) -> None:
    """Files whose declared sizes or values the scan refused: the first code found, every file listed."""
    if not scan.refused:
        return
    code = scan.refused[0][1]
    same = [(p, why) for p, c, why in scan.refused if c == code]
    raise IngestError(
        code,
        f"{len(same)} file(s) cannot be trusted as they are: {_listed(same)}. {_ACTIONS.get(code, '')}".strip(),
    )


def choose_series(scan: ScanResult) -> tuple[SeriesInfo, list[dict[str, Any]]]:
    """The CT series with the most frames (its main stack), and a record of every image series left out."""
    _refuse_untrusted(scan)
    if scan.damaged:
        raise IngestError(
            "damaged_file",
            f"{len(scan.damaged)} file(s) look like DICOM but cannot be read (truncated or corrupt): "
            f"{_listed(scan.damaged)}. {_ACTIONS['damaged_file']}",
        )
    if not scan.series:
        raise IngestError(
            "no_image_series",
            f"No CT image series was found in the upload. Found: {_found_summary(scan)}. "
            "Upload the CT series itself (axial slices or an enhanced CT object).",
        )
    ranked = sorted(scan.series.values(), key=lambda s: (-len(s.frames), s.uid))
    chosen = stacks.separate(ranked[0], localizers=scan.localizers.get(ranked[0].uid, 0))
    ignored = [
        {
            "series_instance_uid": s.uid,
            "modality": s.modality,
            "frames": len(s.frames),
            "reason": "fewer slices than the chosen series",
        }
        for s in ranked[1:]
    ]
    ignored += [
        {"series_instance_uid": uid, "kind": kind, "frames": n, "reason": "not a CT volume"}
        for uid, (kind, n) in sorted(scan.other_series.items())
    ]
    return chosen, ignored


# --------------------------------------------------------------------------------------- plan


@dataclass
class SeriesPlan:
    """A validated series: frames sorted along the slice normal and where they will be stored."""

    series: SeriesInfo
    frames: list[FrameHeader]  # sorted: frames[k] is stored at acquisition index k
    layout: Layout
    dtype: np.dtype
    slice_step: float
    transfer_syntaxes: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)  # the series' own, then what the plan noticed

    @property
    def estimated_bytes(self) -> int:
        return int(np.prod(self.layout.grid.shape)) * self.dtype.itemsize


def _plane_name(orientation: tuple[float, ...]) -> str:
    normal = np.cross(orientation[:3], orientation[3:])
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < 1 - 1e-3:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def _fmt_vec(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"


def _check_uniform(series: SeriesInfo, frames: list[FrameHeader]) -> None:
    """Every frame placed in space, of one size, greyscale, in one orientation and one pixel spacing."""
    _check_geometry_present(series.uid, frames)
    _check_image_size(series.uid, frames)
    _check_greyscale(series.uid, frames)
    _check_orientation(series.uid, frames)
    _check_pixel_spacing(series.uid, frames)


def _check_geometry_present(uid: str, frames: list[FrameHeader]) -> None:
    missing = [f for f in frames if f.position is None or f.orientation is None or f.pixel_spacing is None]
    if not missing:
        return
    lacking = Counter(
        keyword
        for f in missing
        for keyword, value in (
            ("ImagePositionPatient", f.position),
            ("ImageOrientationPatient", f.orientation),
            ("PixelSpacing", f.pixel_spacing),
        )
        if value is None
    )
    what = "; ".join(f"{n} of {len(frames)} images lack {keyword}" for keyword, n in sorted(lacking.items()))
    raise IngestError(
        "missing_geometry",
        f"Series {uid}: {what} (e.g. {missing[0].describe()}), so they cannot be placed in space. Export the "
        "series with its geometry (a standard CT export does), not as screenshots or secondary captures.",
    )


def _check_image_size(uid: str, frames: list[FrameHeader]) -> None:
    sizes = Counter((f.rows, f.columns) for f in frames)
    if len(sizes) > 1 or None in next(iter(sizes)):
        listed = ", ".join(f"{n} images of {r}x{c}" for (r, c), n in sizes.most_common())
        raise IngestError(
            "mixed_image_size",
            f"Series {uid} mixes image sizes ({listed}). A volume needs one size: upload the "
            "series without the odd images.",
        )


def _check_greyscale(uid: str, frames: list[FrameHeader]) -> None:
    spp = {f.samples_per_pixel for f in frames}
    if spp != {1}:
        raise IngestError(
            "unsupported_pixel_format",
            f"Series {uid} has colour images ({sorted(spp)} samples per pixel); CT volumes are "
            "greyscale. Upload the original CT series.",
        )


def _orientation_groups(frames: list[FrameHeader]) -> list[tuple[np.ndarray, int]]:
    """The distinct orientations (within ``_ORIENTATION_ATOL``) in order of appearance, with counts."""
    groups: list[tuple[np.ndarray, int]] = []
    for f in frames:
        o = np.asarray(f.orientation)
        for i, (ref, n) in enumerate(groups):
            if np.allclose(o, ref, atol=_ORIENTATION_ATOL, rtol=0):
                groups[i] = (ref, n + 1)
                break
        else:
            groups.append((o, 1))
    return groups


def _check_orientation(uid: str, frames: list[FrameHeader]) -> None:
    groups = _orientation_groups(frames)
    if len(groups) > 1:
        listed = "; ".join(
            f"{n} {_plane_name(tuple(o))} {_fmt_vec(o[:3])}/{_fmt_vec(o[3:])}" for o, n in groups[:_MAX_LISTED]
        )
        raise IngestError(
            "mixed_orientation",
            f"Series {uid} mixes {len(groups)} image orientations ({listed}). A volume needs one "
            "orientation: upload the reconstructions as separate series and leave out localizers.",
        )
    o = np.asarray(groups[0][0])
    row_norm, col_norm = np.linalg.norm(o[:3]), np.linalg.norm(o[3:])
    if abs(row_norm - 1) > 0.01 or abs(col_norm - 1) > 0.01 or abs(o[:3] @ o[3:]) > 0.01:
        raise IngestError(
            "invalid_geometry",
            f"Series {uid} has an ImageOrientationPatient that is not two perpendicular unit vectors "
            f"({_fmt_vec(o)}). The export is broken: re-export the series.",
        )


def _check_pixel_spacing(uid: str, frames: list[FrameHeader]) -> None:
    spaced = [(f, f.pixel_spacing) for f in frames if f.pixel_spacing is not None]  # all, once checked
    bad_spacing = [(f, spacing) for f, spacing in spaced if min(spacing) <= 0]
    if bad_spacing:
        frame, spacing = bad_spacing[0]
        raise IngestError(
            "invalid_geometry",
            f"Series {uid} has a PixelSpacing of {spacing} (zero or negative) in "
            f"{frame.describe()}. The export is broken: re-export the series.",
        )
    spacings = Counter(tuple(round(v, 4) for v in spacing) for _, spacing in spaced)
    ref = np.asarray(next(iter(spacings)))
    if any(not np.allclose(np.asarray(s), ref, rtol=_SPACING_RTOL, atol=0) for s in spacings):
        listed = ", ".join(f"{n} images at {s[0]:g} x {s[1]:g} mm" for s, n in spacings.most_common(_MAX_LISTED))
        raise IngestError(
            "mixed_pixel_spacing",
            f"Series {uid} mixes pixel spacings ({listed}). A volume needs one spacing: upload the "
            "reconstructions as separate series.",
        )


def _check_decoders(series: SeriesInfo, syntaxes: Iterable[str]) -> None:
    for ts in syntaxes:
        uid = UID(ts) if ts else UID("1.2.840.10008.1.2")
        try:
            decoder = get_decoder(uid)
        except NotImplementedError:
            raise IngestError(
                "missing_decoder",
                f"Series {series.uid} is stored with transfer syntax {uid.name} ({uid}), which no "
                "installed pixel decoder supports (pydicom has none for it). Export the series "
                "uncompressed or with a lossless JPEG / JPEG-LS / JPEG 2000 / RLE syntax.",
            ) from None
        if not decoder.is_available:
            missing = "; ".join(decoder.missing_dependencies) or "a decoding plugin"
            raise IngestError(
                "missing_decoder",
                f"Series {series.uid} is compressed with {uid.name} ({uid}) and no installed decoder "
                f"can read it. pydicom needs one of: {missing}. Install that package on the "
                "ingest workers, or export the series uncompressed.",
            )


@dataclass
class _Stack:
    """The frames of a series sorted along the slice normal, and what the spacing checks measure."""

    frames: list[FrameHeader]  # sorted along the normal
    row_dir: np.ndarray
    col_dir: np.ndarray
    normal: np.ndarray
    positions: np.ndarray  # (n, 3) ImagePositionPatient, in the sorted order
    along: np.ndarray  # each position's distance along the normal, ascending
    diffs: np.ndarray  # the steps between neighbours
    row_spacing: float
    col_spacing: float


def plan_series(series: SeriesInfo, *, min_slices: int, max_tilt_fraction: float, max_volume_bytes: int) -> SeriesPlan:
    """Validate a series' geometry and decide how it is stored. Raises IngestError."""
    frames = list(series.frames)
    uid = series.uid
    _check_uniform(series, frames)
    if len(frames) < min_slices:
        raise IngestError(
            "too_few_slices",
            f"Series {uid} has only {len(frames)} image(s); a volume needs at least {min_slices}. "
            "Upload the whole series (all slices), not single images.",
        )
    stack = _sort_along_normal(frames)
    _check_duplicates(uid, stack)
    _check_slice_steps(uid, stack)
    mean_step = _regular_step(uid, stack)
    _check_tilt(uid, stack, max_tilt_fraction)
    syntaxes = tuple(sorted({f.transfer_syntax for f in stack.frames}))
    _check_decoders(series, syntaxes)
    plan = SeriesPlan(
        series=series,
        frames=stack.frames,
        layout=_stored_layout(stack, mean_step),
        dtype=_output_dtype(stack.frames),
        slice_step=mean_step,
        transfer_syntaxes=syntaxes,
        warnings=[*series.warnings, *quirks.order_warnings(uid, stack.frames)],
    )
    _check_memory(plan, plan.dtype, max_volume_bytes)
    return plan


def _sort_along_normal(frames: list[FrameHeader]) -> _Stack:
    orientation = np.asarray(frames[0].orientation, dtype=np.float64)
    row_dir = orientation[:3] / np.linalg.norm(orientation[:3])
    col_dir = orientation[3:] / np.linalg.norm(orientation[3:])
    normal = np.cross(row_dir, col_dir)
    normal /= np.linalg.norm(normal)
    positions = np.asarray([f.position for f in frames], dtype=np.float64)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    frames = [frames[i] for i in order]
    along = along[order]
    spacing = frames[0].pixel_spacing
    assert spacing is not None, "checked by _check_uniform"
    return _Stack(
        frames=frames,
        row_dir=row_dir,
        col_dir=col_dir,
        normal=normal,
        positions=positions[order],
        along=along,
        diffs=np.diff(along),
        row_spacing=spacing[0],
        col_spacing=spacing[1],
    )


def _check_duplicates(uid: str, stack: _Stack) -> None:
    """Two images in the same plane: two phases or acquisitions in one series."""
    frames, along, diffs = stack.frames, stack.along, stack.diffs
    dup_tol = max(0.01, 1e-3 * float(np.median(np.abs(diffs)))) if len(diffs) else 0.01
    dups = np.flatnonzero(diffs <= dup_tol)
    if not dups.size:
        return
    k = int(dups[0])
    a, b = frames[k], frames[k + 1]
    hint = ""
    if a.acquisition_number != b.acquisition_number:
        hint = f" (acquisition numbers {a.acquisition_number} and {b.acquisition_number})"
    elif a.temporal_position != b.temporal_position:
        hint = f" (temporal positions {a.temporal_position} and {b.temporal_position})"
    raise IngestError(
        "duplicate_position",
        f"Series {uid} has {dups.size} pair(s) of images at the same position, first at "
        f"{along[k]:.2f} mm along the slice normal ({a.describe()} and {b.describe()}){hint}. It "
        "likely mixes two phases or acquisitions: export each one as its own series.",
    )


def _check_slice_steps(uid: str, stack: _Stack) -> None:
    """Every step a whole number of the true step: otherwise uneven spacing, or slices missing."""
    diffs = stack.diffs
    # The step: the typical value among the smallest differences. A median of all differences fails
    # when many slices are missing (positions 0, 2, 6: median 3, no gap seen); gaps only ever make a
    # difference larger, so the small ones hold the true step.
    step = float(np.median(diffs[diffs <= 1.5 * diffs.min()]))
    ratios = diffs / step
    off_grid = np.flatnonzero(np.abs(ratios - np.rint(ratios)) > 0.2)
    if off_grid.size:
        typical = float(np.median(diffs))
        k = int(np.flatnonzero(np.abs(diffs - typical) > 0.1 * typical)[0])
        raise IngestError(
            "uneven_spacing",
            f"Series {uid} has uneven slice spacing: slices {k + 1} and {k + 2} are {diffs[k]:.4g} mm apart "
            f"where the series mostly steps by {typical:.4g} mm (steps range from {diffs.min():.4g} to "
            f"{diffs.max():.4g} mm). Upload a reconstruction with a constant slice interval.",
        )
    gaps = np.flatnonzero(np.rint(ratios) >= 2)
    if gaps.size:
        _refuse_gaps(uid, gaps, diffs, ratios, step)


def _refuse_gaps(uid: str, gaps: np.ndarray, diffs: np.ndarray, ratios: np.ndarray, step: float) -> None:
    missing_total = 0
    details = []
    for g in gaps:
        missing = int(np.rint(ratios[g])) - 1
        missing_total += missing
        details.append(
            f"between slice {g + 1} and {g + 2} ({diffs[g]:.4g} mm where {step:.4g} mm is expected): "
            f"{missing} slice{'s' if missing != 1 else ''} missing"
        )
    shown = "; ".join(details[:_MAX_LISTED]) + ("; ..." if len(details) > _MAX_LISTED else "")
    lead = (
        f"has a gap {shown}"
        if gaps.size == 1
        else (f"has {gaps.size} gaps ({missing_total} slices missing in all): {shown}")
    )
    raise IngestError(
        "slice_gap",
        f"Series {uid} {lead}. Upload the complete series (check that the export or the transfer did not drop files).",
    )


def _regular_step(uid: str, stack: _Stack) -> float:
    """The mean step, once every slice sits on the regular grid it spans (to a tenth of a step)."""
    along, diffs = stack.along, stack.diffs
    n = len(stack.frames)
    mean_step = float((along[-1] - along[0]) / (n - 1))
    deviation = np.abs(along - (along[0] + mean_step * np.arange(n)))
    worst = int(np.argmax(deviation))
    if deviation[worst] > 0.1 * mean_step:
        raise IngestError(
            "uneven_spacing",
            f"Series {uid} has uneven slice spacing: slice {worst + 1} sits {deviation[worst]:.3g} mm "
            f"off the regular {mean_step:.4g} mm grid (slice steps range from {diffs.min():.4g} to "
            f"{diffs.max():.4g} mm). Upload a reconstruction with a constant slice interval.",
        )
    return mean_step


def _check_tilt(uid: str, stack: _Stack, max_tilt_fraction: float) -> None:
    """Tilt or shear: the stack must run along the slice normal.

    The sideways drift of every slice from the first is measured in voxels of the in-plane spacing.
    """
    positions, along, row_dir, col_dir = stack.positions, stack.along, stack.row_dir, stack.col_dir
    rel = positions - positions[0]
    drift_i = rel @ row_dir / stack.col_spacing
    drift_j = rel @ col_dir / stack.row_spacing
    drift = np.hypot(drift_i, drift_j)
    if drift.max() > max_tilt_fraction:
        k = int(np.argmax(drift))
        drift_mm = float(np.hypot(rel[k] @ row_dir, rel[k] @ col_dir))
        angle = math.degrees(math.atan2(drift_mm, abs(along[k] - along[0]))) if k else 0.0
        raise IngestError(
            "gantry_tilt",
            f"Series {uid} is tilted or sheared: slice {k + 1} sits {drift[k]:.2f} voxels "
            f"({drift_mm:.2f} mm) sideways from slice 1, about {angle:.2f} degrees of gantry tilt; "
            f"the limit is {max_tilt_fraction:g} voxel across the stack. Upload a reconstruction "
            "without gantry tilt (or one resampled to a straight stack).",
        )


def _output_dtype(frames: list[FrameHeader]) -> np.dtype:
    """int16 when every rescale is by integers (HU stay exact), else float32."""
    exact = all(float(f.slope).is_integer() and float(f.intercept).is_integer() for f in frames)
    return np.dtype(np.int16 if exact else np.float32)


def _stored_layout(stack: _Stack, mean_step: float) -> Layout:
    first = stack.frames[0]
    assert first.rows is not None and first.columns is not None, "checked by _check_uniform"
    return plan_layout(
        origin=stack.positions[0],
        row_direction=stack.row_dir,
        column_direction=stack.col_dir,
        slice_direction=stack.normal,
        spacing_ijk=(float(stack.col_spacing), float(stack.row_spacing), abs(mean_step)),
        counts_ijk=(int(first.columns), int(first.rows), len(stack.frames)),
    )


def _check_memory(plan: SeriesPlan, dtype: np.dtype, cap: int) -> None:
    nbytes = int(np.prod(plan.layout.grid.shape)) * dtype.itemsize
    if nbytes > cap:
        nx, ny, nz = plan.layout.grid.dimensions
        raise IngestError(
            "volume_too_large",
            f"Series {plan.series.uid} would need {nbytes / 1024**3:.2f} GiB as a volume ({nx} x {ny} x "
            f"{nz} voxels of {dtype.name}); the limit is {cap / 1024**3:.2f} GiB. Upload a thicker-slice "
            "reconstruction or ask an administrator to raise the limit.",
        )


# --------------------------------------------------------------------------------------- read

_INT16_MIN, _INT16_MAX = -32768, 32767


@dataclass
class Volume:
    """Hounsfield units on ``layout.grid``: shape (nz, ny, nx), C order, int16 or float32."""

    array: np.ndarray
    layout: Layout
    scalar_range: tuple[float, float]
    warnings: list[str] = field(default_factory=list)  # what the read changed in the stored values


_DEFLATED = "1.2.840.10008.1.2.1.99"
_NATIVE_LE = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", ""})


def _decode_single(frame: FrameHeader) -> np.ndarray:
    """Stored values of a single-frame file (bits above BitsStored not yet masked: see ``quirks``).

    Uncompressed little-endian greyscale data is used as it lies in the file: read from the Pixel
    Data offset the header scan saw, or else from a fresh parse. pydicom's generic decoder costs about
    1.4 ms per slice on top (three times the read itself), and re-parsing the header another 0.3 ms.
    Everything else (compressed, big endian, deflated) goes through pydicom's decoders.
    """
    if (
        frame.transfer_syntax in _NATIVE_LE
        and frame.bits_allocated in (8, 16, 32)
        and frame.samples_per_pixel == 1
        and frame.rows
        and frame.columns
    ):
        dtype = np.dtype(f"<{'i' if frame.signed else 'u'}{frame.bits_allocated // 8}")
        expected = frame.rows * frame.columns
        if frame.pixel_offset is not None:
            data = _read_native_pixels(frame.path, frame.pixel_offset, frame.transfer_syntax, expected * dtype.itemsize)
            if data is not None:
                return np.frombuffer(data, dtype=dtype, count=expected).reshape(frame.rows, frame.columns)
        ds = _dataset(frame)
        pixels = ds.get("PixelData")
        if isinstance(pixels, bytes) and len(pixels) // dtype.itemsize >= expected:
            return np.frombuffer(pixels, dtype=dtype, count=expected).reshape(frame.rows, frame.columns)
        # Wrong length or an odd element: let pydicom produce the precise error.
        return ds.pixel_array
    if frame.raw_dataset or frame.transfer_syntax == _DEFLATED:  # pydicom's file-level reader takes neither
        return _dataset(frame).pixel_array
    return pixel_array(frame.path)


def _dataset(frame: FrameHeader) -> Dataset:
    """The whole file, read the way the scan read it (forced for a dataset without File Meta)."""
    ds = pydicom.dcmread(frame.path, force=frame.raw_dataset)
    meta = getattr(ds, "file_meta", None)
    if meta is None or not meta.get("TransferSyntaxUID"):
        ds.file_meta = meta if meta is not None else FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = UID(frame.transfer_syntax or "1.2.840.10008.1.2")
    return ds


_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


def _read_native_pixels(path: Path, offset: int, transfer_syntax: str, nbytes: int) -> bytes | None:
    """The first ``nbytes`` of a native Pixel Data element at ``offset``, or None if anything is off."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        head = fh.read(12)
        if len(head) < 8 or head[:4] != _PIXEL_DATA_TAG:
            return None
        if transfer_syntax == "1.2.840.10008.1.2.1":  # explicit VR: tag, VR, 2 reserved, length
            if len(head) < 12 or head[4:6] not in (b"OW", b"OB"):
                return None
            length = int.from_bytes(head[8:12], "little")
        else:  # implicit VR: tag, length
            length = int.from_bytes(head[4:8], "little")
            fh.seek(offset + 8)
        if length == 0xFFFFFFFF or length < nbytes:
            return None
        data = fh.read(nbytes)
    return data if len(data) == nbytes else None


def _bounded_map(pool: ThreadPoolExecutor, fn: Callable[[Any], Any], items: list[Any], window: int) -> Iterator[Any]:
    """``pool.map`` that keeps at most ``window`` results in flight (bounded memory)."""
    pending: list[Future[Any]] = []
    it = iter(items)
    for item in it:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            break
    while pending:
        fut = pending.pop(0)
        nxt = next(it, None)
        if nxt is not None:
            pending.append(pool.submit(fn, nxt))
        yield fut.result()


def _iter_decoded(plan: SeriesPlan, workers: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (k, stored pixel values) for every frame, decoding compressed data in threads."""
    yield from _iter_multiframe(plan)
    single = [k for k, f in enumerate(plan.frames) if f.frame is None]
    if single:
        yield from _iter_single_frames(plan, single, workers)


def _iter_multiframe(plan: SeriesPlan) -> Iterator[tuple[int, np.ndarray]]:
    """Frames of multi-frame files: walk each file once, frame by frame."""
    slots: dict[Path, dict[int, int]] = defaultdict(dict)
    for k, f in enumerate(plan.frames):
        if f.frame is not None:
            slots[f.path][f.frame] = k
    for path, wanted in slots.items():
        try:
            for index, arr in enumerate(iter_pixels(path)):
                if index in wanted:
                    yield wanted[index], arr
        except INTERRUPTIONS:
            raise
        except Exception as exc:  # noqa: BLE001 - decoder errors on bad bytes
            raise _decode_error(plan.series.uid, path.name, exc) from exc


def _decode_or_error(frame: FrameHeader) -> np.ndarray | Exception:
    """The frame's stored values, or the error, returned so that a decoding thread hands it over."""
    try:
        return _decode_single(frame)
    except INTERRUPTIONS:
        raise
    except Exception as exc:  # noqa: BLE001 - returned to the consumer, raised there
        return exc


def _iter_single_frames(plan: SeriesPlan, single: list[int], workers: int) -> Iterator[tuple[int, np.ndarray]]:
    """Single-frame files, in threads when compressed (the decoders release the GIL)."""
    frames = plan.frames

    def decode(k: int) -> tuple[int, np.ndarray | Exception]:
        return k, _decode_or_error(frames[k])

    if any(_is_compressed(ts) for ts in plan.transfer_syntaxes) and workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="dicom-decode") as pool:
            yield from _raise_decode_errors(plan, _bounded_map(pool, decode, single, window=2 * workers))
    else:
        yield from _raise_decode_errors(plan, (decode(k) for k in single))


def _raise_decode_errors(
    plan: SeriesPlan, decoded: Iterable[tuple[int, np.ndarray | Exception]]
) -> Iterator[tuple[int, np.ndarray]]:
    for k, arr in decoded:
        if isinstance(arr, Exception):
            raise _decode_error(plan.series.uid, plan.frames[k].path.name, arr) from arr
        yield k, arr


def _is_compressed(ts: str) -> bool:
    uid = UID(ts or "1.2.840.10008.1.2")
    return not uid.is_transfer_syntax or uid.is_compressed


def _decode_error(series_uid: str, name: str, exc: BaseException) -> IngestError:
    text = str(exc).strip().replace("\n", " ")
    if "missing" in text.lower() and ("plugin" in text.lower() or "dependenc" in text.lower()):
        return IngestError(
            "missing_decoder",
            f"Series {series_uid}: {name} cannot be decoded because a decoder package is missing: {text[:400]}",
        )
    return IngestError(
        "corrupt_pixel_data",
        f"Series {series_uid}: the pixel data of {name} cannot be decoded ({type(exc).__name__}: "
        f"{text[:300]}). The file is probably truncated or damaged: re-export the series.",
    )


@pydicom_warnings.logged_only()  # the headers the scan read are parsed again
def read_volume(
    plan: SeriesPlan,
    *,
    max_volume_bytes: int,
    workers: int = 2,
    progress: Callable[[float], None] | None = None,
) -> Volume:
    """Decode every frame of ``plan`` into one preallocated array, in Hounsfield units."""
    reader = _VolumeReader(plan, max_volume_bytes)
    total = len(plan.frames)
    for k, raw in _iter_decoded(plan, workers):
        reader.place(k, raw)
        if progress is not None and reader.done % 32 == 0:
            progress(reader.done / total)
    if reader.done != total:
        raise IngestError(
            "corrupt_pixel_data",
            f"Series {plan.series.uid}: only {reader.done} of {total} frames could be read. Re-export the series.",
        )
    return Volume(
        array=reader.out,
        layout=plan.layout,
        scalar_range=(float(reader.lo), float(reader.hi)),
        warnings=reader.notes.warnings(plan.series.uid),
    )


class _VolumeReader:
    """The output array, filled frame by frame: stored values checked, corrected, rescaled, placed."""

    def __init__(self, plan: SeriesPlan, max_volume_bytes: int) -> None:
        self.plan = plan
        self.max_volume_bytes = max_volume_bytes
        self.out = np.empty(plan.layout.grid.shape, dtype=plan.dtype)
        self.view = plan.layout.acquisition_view(self.out)
        self.lo, self.hi = math.inf, -math.inf
        self.done = 0
        self.notes = quirks.PixelNotes()

    def place(self, k: int, raw: np.ndarray) -> None:
        frame = self.plan.frames[k]
        rows, cols = self.view.shape[1], self.view.shape[2]
        if raw.shape != (rows, cols):
            raise IngestError(
                "corrupt_pixel_data",
                f"Series {self.plan.series.uid}: {frame.describe()} decodes to {raw.shape[0]}x{raw.shape[-1]} "
                f"pixels where its header says {rows}x{cols}. Re-export the series.",
            )
        raw = self._stored_values(raw, frame)
        padding = quirks.padding_mask(raw, frame)
        real = raw if padding is None else raw[~padding]
        raw_lo, raw_hi = (float(real.min()), float(real.max())) if real.size else (quirks.AIR_HU, quirks.AIR_HU)
        a, b = frame.slope * raw_lo + frame.intercept, frame.slope * raw_hi + frame.intercept
        s_lo, s_hi = min(a, b), max(a, b)
        if self.out.dtype == np.int16 and (s_lo < _INT16_MIN or s_hi > _INT16_MAX):
            # Exact integers that do not fit int16: float32 holds them exactly (up to 2**24).
            _check_memory(self.plan, np.dtype(np.float32), self.max_volume_bytes)
            self.out = self.out.astype(np.float32)
            self.view = self.plan.layout.acquisition_view(self.out)
        target = self.view[k]
        _rescale_into(target, raw, frame)
        if padding is not None:
            target[padding] = quirks.AIR_HU
            self.notes.counts["padding_voxels"] += int(padding.sum())
            s_lo = min(s_lo, quirks.AIR_HU)
        self.lo, self.hi = min(self.lo, s_lo), max(self.hi, s_hi)
        self.done += 1

    def _stored_values(self, raw: np.ndarray, frame: FrameHeader) -> np.ndarray:
        if raw.dtype.kind in "iu" and frame.bits_stored < 8 * raw.dtype.itemsize:
            raw = quirks.mask_bits(raw, frame.bits_stored, frame.signed, self.notes)
        elif not frame.signed and frame.bits_stored == 16:
            raw = quirks.fix_signedness(raw, self.notes)
        return raw


def _rescale_into(target: np.ndarray, raw: np.ndarray, frame: FrameHeader) -> None:
    """``target = raw * slope + intercept``, exact for int16 output (ranges were checked)."""
    if target.dtype == np.int16:
        if frame.slope == 1 and frame.intercept == 0 and raw.dtype == np.int16:
            target[...] = raw
        elif frame.slope == 1:
            np.add(raw, np.int32(frame.intercept), out=target, casting="unsafe")
        else:  # integer slope other than 1 (rare): exact in int32, range checked above
            scaled = raw.astype(np.int32)
            scaled *= int(frame.slope)
            scaled += int(frame.intercept)
            target[...] = scaled
    else:
        np.multiply(raw, np.float32(frame.slope), out=target, casting="unsafe")
        target += np.float32(frame.intercept)
