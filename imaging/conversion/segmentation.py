"""Segmentations on the CT's grid: DICOM SEG (highdicom) and NIfTI label maps (nibabel).

Whatever the source, the result is one integer label map with exactly the volume's grid and stored
layout, so meshes built from it land where the CT is. A DICOM SEG must share the CT's frame of
reference (it carries the UID); a NIfTI file has no such UID, so its placement is checked by
geometry: labelled voxels that fall outside the CT mean the file belongs to another scan (or was
saved with a wrong affine) and are refused rather than silently cut off. When the grids differ
(thicker slices, a cropped SEG holding only the frames with content, another orientation) the labels
are resampled by nearest neighbour, which keeps label values intact.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import declared, pydicom_warnings
from .declared import DeclaredSizeError, HeaderCaps
from .errors import INTERRUPTIONS, IngestError
from .geometry import ImageGrid
from .headers import describe_sop_class, functional_group_value, optional_int, pixel_format, printable

_AXIS_TOL = 1e-3
# nibabel and ITK store NIfTI affines in RAS; DICOM and this library use LPS.
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
_MAX_OUTSIDE_FRACTION = 0.01
_MAX_SEGMENT = 65535
_MAX_LISTED = 5


@dataclass
class LabelMap:
    """Labels on the volume grid: shape ``grid.shape``, uint8 or uint16, 0 is background."""

    array: np.ndarray
    names: dict[int, str]
    metadata: dict[str, Any] = field(default_factory=dict)


def _label_dtype(max_label: int) -> np.dtype:
    return np.dtype(np.uint8 if max_label <= 255 else np.uint16)


def _is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".nii", ".nii.gz"))


def _looks_like_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def load_segmentation(
    path: Path,
    *,
    grid: ImageGrid,
    frame_of_reference_uid: str | None,
    labels: Mapping[int, str] | None = None,
    caps: HeaderCaps | None = None,
) -> LabelMap:
    """Read ``path`` (DICOM SEG or NIfTI) onto ``grid``. Raises IngestError on refusal.

    ``labels`` maps label values (NIfTI) or segment numbers (SEG) to names and wins over the names
    stored in the file. For NIfTI without ``labels`` a sidecar ``<name>.labels.json`` or
    ``<name>.json`` ({"1": "liver", ...}) next to the file is used when present. ``caps`` bounds
    what the file may declare (frames, header size; ``max_inflated_bytes`` caps its voxels too).
    """
    path = Path(path)
    caps = caps or HeaderCaps()
    if not path.is_file():
        raise IngestError("segmentation_missing", f"Segmentation {path.name!r} does not exist.")
    if _is_nifti(path):
        return _load_nifti(path, grid=grid, labels=labels, max_bytes=caps.max_inflated_bytes)
    if _looks_like_dicom(path):
        return _load_dicom_seg(path, grid=grid, frame_of_reference_uid=frame_of_reference_uid, labels=labels, caps=caps)
    raise IngestError(
        "segmentation_unsupported",
        f"Segmentation {path.name!r} is neither a DICOM SEG nor a NIfTI file (.nii/.nii.gz). Export the "
        "labels in one of those formats.",
    )


# --------------------------------------------------------------------------------------- DICOM SEG


SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


class _NotOnGridError(Exception):
    """The SEG frames do not lie on the CT grid: take the general (resampling) path."""


@pydicom_warnings.logged_only()  # a file that merely claims to be a SEG is read to find out
def _load_dicom_seg(
    path: Path,
    *,
    grid: ImageGrid,
    frame_of_reference_uid: str | None,
    labels: Mapping[int, str] | None,
    caps: HeaderCaps,
) -> LabelMap:
    ds, pixel_offset = _read_seg_header(path, caps)
    sop_class = str(ds.get("SOPClassUID") or "")
    if sop_class != SEGMENTATION_STORAGE:
        raise IngestError(
            "segmentation_unsupported",
            f"{path.name!r} is a DICOM object of {describe_sop_class(sop_class)}, not a DICOM "
            "Segmentation. Upload a DICOM SEG or a NIfTI label map.",
        )
    seg_for = str(ds.get("FrameOfReferenceUID") or "")
    if frame_of_reference_uid and seg_for != frame_of_reference_uid:
        raise IngestError(
            "frame_of_reference_mismatch",
            f"Segmentation {path.name!r} was drawn in frame of reference {seg_for or '(none)'}, but the CT "
            f"series uses {frame_of_reference_uid}: it belongs to another scan or another reconstruction. "
            "Upload the segmentation made on this series.",
        )
    names = _segment_names(path, ds)
    for key, value in (labels or {}).items():
        names[int(key)] = str(value)
    _check_declared_sizes(path, ds, pixel_offset, caps)
    seg_type = str(ds.get("SegmentationType") or "BINARY").upper()
    dtype = _label_dtype(max(names, default=1))
    metadata: dict[str, Any] = {
        "format": "dicom-seg",
        "series_instance_uid": str(ds.get("SeriesInstanceUID") or "") or None,
        "frame_of_reference_uid": seg_for or None,
        "segmentation_type": seg_type,
        "segments": len(names),
    }
    try:
        array, src_counts, placed_counts = _place_frames(path, ds, grid, seg_type, dtype, set(names))
    except _NotOnGridError:
        array, info = _seg_via_highdicom(path, grid, names, dtype)
        metadata.update(info)
    else:
        _check_coverage(
            src_counts,
            placed_counts,
            np.eye(4),
            grid,
            names=names,
            source=path.name,
            exact=True,
            same_voxel=True,
        )
        metadata.update({"resampled": False, "frames_placed_directly": True})
    return LabelMap(array=array, names=names, metadata=metadata)


_SEG_UNREADABLE = frozenset({"corrupt_pixel_data", "damaged_file"})


def _untrusted(path: Path, exc: DeclaredSizeError) -> IngestError:
    code = "segmentation_unreadable" if exc.code in _SEG_UNREADABLE else exc.code
    return IngestError(code, f"Segmentation {path.name!r} cannot be trusted: {exc.reason}. Export it again.")


def _read_seg_header(path: Path, caps: HeaderCaps) -> tuple[Any, int]:
    try:
        return declared.guarded_read(path, caps)
    except DeclaredSizeError as exc:
        raise _untrusted(path, exc) from exc
    except INTERRUPTIONS:
        raise
    except Exception as exc:  # noqa: BLE001 - bad bytes raise anything
        raise IngestError(
            "segmentation_unreadable",
            f"Segmentation {path.name!r} is not a readable DICOM file ({type(exc).__name__}: "
            f"{printable(exc, 200)}). Export it again as a DICOM Segmentation object.",
        ) from exc


def _segment_names(path: Path, ds: Any) -> dict[int, str]:
    """Segment number -> label, every number checked (1..65535, each once) before it indexes anything."""
    names: dict[int, str] = {}
    for item in ds.get("SegmentSequence") or []:
        number = optional_int(item.get("SegmentNumber"))
        if number is None or not 0 < number <= _MAX_SEGMENT or number in names:
            shown = "missing" if number is None else f"{number:,}"
            problem = "repeated" if number in names else "outside 1..65535"
            raise IngestError(
                "segmentation_unreadable",
                f"Segmentation {path.name!r} has a SegmentNumber that is {problem} ({shown}). Export it again.",
            )
        names[number] = printable(item.get("SegmentLabel") or f"segment {number}", 64)
    return names


def _check_declared_sizes(path: Path, ds: Any, pixel_offset: int, caps: HeaderCaps) -> None:
    """Frames, rows, columns and bits against the pixel data present and the caps, before any allocation."""
    fmt = pixel_format(ds)
    syntax = str(ds.file_meta.get("TransferSyntaxUID", "")) if getattr(ds, "file_meta", None) else ""
    try:
        declared.check_pixel_format(fmt)
        declared.check_pixel_bytes(path, pixel_offset, syntax, fmt)
        declared.check_frames(ds, fmt, caps)
    except DeclaredSizeError as exc:
        raise _untrusted(path, exc) from exc
    voxels = fmt.frames * (fmt.rows or 0) * (fmt.columns or 0)
    if voxels > caps.max_inflated_bytes:
        raise IngestError(
            "volume_too_large",
            f"Segmentation {path.name!r} declares {fmt.frames:,} frames of {fmt.rows}x{fmt.columns} "
            f"({voxels / 1024**3:.2f} G voxels); the limit is {caps.max_inflated_bytes / 1024**3:.2f} G. "
            "Upload a segmentation of the CT's size.",
        )


def _place_frames(
    path: Path, ds: Any, grid: ImageGrid, seg_type: str, dtype: np.dtype, segments: set[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write each SEG frame straight into the label map, when every frame lies on a CT plane.

    A SEG made on this CT (the usual case) has frames whose pixels coincide with CT voxels, maybe
    only for the slices that contain something. Placing them one by one costs a fraction of a
    second and one label-map-sized array; building highdicom's volume first took 4 s and several
    hundred MB at 512x512x300. Overlapping segments: the higher segment number wins.
    """
    from pydicom.pixels import iter_pixels

    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(per_frame) != int(ds.get("NumberOfFrames") or 1):
        raise _NotOnGridError
    plans = _frame_plans(ds, per_frame, np.linalg.inv(grid.array_affine()), seg_type)
    unknown = sorted({plan[0] for plan in plans if plan[0] is not None} - segments)
    if unknown:
        raise IngestError(
            "segmentation_unreadable",
            f"Segmentation {path.name!r} has frames of segment(s) {unknown[:_MAX_LISTED]} that its SegmentSequence "
            "does not define. Export it again.",
        )
    out = np.zeros(grid.shape, dtype=dtype)
    size = int(np.iinfo(dtype).max) + 1 if dtype.itemsize == 1 else 65536
    src_counts = np.zeros(size, dtype=np.int64)
    placed_counts = np.zeros(size, dtype=np.int64)
    threshold = (float(ds.get("MaximumFractionalValue") or 255) / 2.0) if seg_type == "FRACTIONAL" else 0
    try:
        _write_frames(path, iter_pixels(path), plans, out, seg_type, threshold, dtype, src_counts, placed_counts)
    except IngestError:
        raise
    except INTERRUPTIONS:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated or undecodable pixel data
        raise IngestError(
            "segmentation_unreadable",
            f"The frames of segmentation {path.name!r} cannot be decoded ({type(exc).__name__}: "
            f"{str(exc)[:200]}). The file is probably truncated: export it again.",
        ) from exc
    return out, src_counts, placed_counts


def _frame_plans(ds: Any, per_frame: Any, inverse: np.ndarray, seg_type: str) -> list[tuple]:
    """Per frame: (segment number, label-map index of its first pixel, column axis and sign, row axis and sign).

    Raises _NotOnGridError as soon as a frame does not sit on a plane of the CT grid.
    """
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    plans = []
    axes: dict[tuple, tuple[int, int, int, int]] = {}
    for item in per_frame:
        fg = functools.partial(functional_group_value, item, shared)
        position = fg("PlanePositionSequence", "ImagePositionPatient")
        orientation = fg("PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = fg("PixelMeasuresSequence", "PixelSpacing")
        if position is None or orientation is None or spacing is None:
            raise _NotOnGridError
        number = _segment_number(fg, seg_type)
        key = (tuple(float(v) for v in orientation), float(spacing[0]), float(spacing[1]))
        if key not in axes:  # usually one entry: orientation and spacing are shared
            axes[key] = _frame_axes(inverse, *key)
        origin = inverse @ np.append([float(v) for v in position], 1.0)
        if np.abs(origin[:3] - np.rint(origin[:3])).max() > 0.05:
            raise _NotOnGridError
        plans.append((number, np.rint(origin[:3]).astype(int), *axes[key]))
    return plans


def _segment_number(fg: Callable[[str, str], Any], seg_type: str) -> int | None:
    """The segment a binary or fractional frame shows (per frame, or shared when there is one segment)."""
    if seg_type == "LABELMAP":
        return None
    referenced = fg("SegmentIdentificationSequence", "ReferencedSegmentNumber")
    if referenced is None:
        raise _NotOnGridError
    return int(referenced)


def _write_frames(
    path: Path,
    frames: Any,
    plans: list[tuple],
    out: np.ndarray,
    seg_type: str,
    threshold: float,
    dtype: np.dtype,
    src_counts: np.ndarray,
    placed_counts: np.ndarray,
) -> None:
    count = 0
    for f, frame in enumerate(frames):
        count += 1
        number, t, a_c, s_c, a_r, s_r = plans[f]
        if seg_type == "LABELMAP":
            values = frame.astype(dtype, copy=False)
            src_counts[: values.max() + 1] += np.bincount(values.ravel())
        else:
            mask = frame > threshold
            src_now = int(np.count_nonzero(mask))
            src_counts[number] += src_now
        a_n = 3 - a_c - a_r
        if not 0 <= t[a_n] < out.shape[a_n]:
            continue
        plane = out.transpose((a_n, a_r, a_c))[t[a_n]]
        r_sel, r_src = _clip_axis(t[a_r], s_r, frame.shape[0], plane.shape[0])
        c_sel, c_src = _clip_axis(t[a_c], s_c, frame.shape[1], plane.shape[1])
        if r_sel is None or c_sel is None:
            continue
        target = plane[r_sel, c_sel]
        if seg_type == "LABELMAP":
            sub = values[r_src, c_src]
            placed_counts[: sub.max() + 1] += np.bincount(sub.ravel())
        else:
            sub_mask = mask[r_src, c_src]
            whole = sub_mask.shape == mask.shape
            placed_counts[number] += src_now if whole else int(np.count_nonzero(sub_mask))
            sub = sub_mask.astype(dtype) * dtype.type(number)
        np.maximum(target, sub, out=target)
    if count != len(plans):
        raise IngestError(
            "segmentation_unreadable",
            f"Segmentation {path.name!r} declares {len(plans)} frames but holds {count}. Export it again.",
        )


def _frame_axes(
    inverse: np.ndarray, orientation: tuple[float, ...], row_spacing: float, column_spacing: float
) -> tuple[int, int, int, int]:
    """(axis, sign) in the label map of a frame's column and row directions; each step one voxel."""
    o = np.asarray(orientation)
    d_col = inverse[:3, :3] @ (o[:3] * column_spacing)  # index step per frame column
    d_row = inverse[:3, :3] @ (o[3:] * row_spacing)  # index step per frame row
    a_c, a_r = int(np.argmax(np.abs(d_col))), int(np.argmax(np.abs(d_row)))
    if (
        a_c == a_r
        or abs(abs(d_col[a_c]) - 1) > 1e-3
        or abs(abs(d_row[a_r]) - 1) > 1e-3
        or np.abs(np.delete(d_col, a_c)).max() > 1e-3
        or np.abs(np.delete(d_row, a_r)).max() > 1e-3
    ):
        raise _NotOnGridError
    return a_c, int(np.sign(d_col[a_c])), a_r, int(np.sign(d_row[a_r]))


def _clip_axis(start: int, step: int, n_src: int, n_dst: int) -> tuple[slice | None, slice]:
    """Destination slice and source slice for ``dst[start + step * i] = src[i]`` within bounds."""
    if step > 0:
        lo, hi = max(0, -start), min(n_src, n_dst - start)
        if hi <= lo:
            return None, slice(0, 0)
        return slice(start + lo, start + hi), slice(lo, hi)
    lo, hi = max(0, start - n_dst + 1), min(n_src, start + 1)
    if hi <= lo:
        return None, slice(0, 0)
    stop = start - hi
    return slice(start - lo, stop if stop >= 0 else None, -1), slice(lo, hi)


def _seg_via_highdicom(
    path: Path, grid: ImageGrid, names: Mapping[int, str], dtype: np.dtype
) -> tuple[np.ndarray, dict[str, Any]]:
    """General path: highdicom arranges the frames as a volume, then nearest-neighbour resampling."""
    import highdicom as hd

    try:
        seg = hd.seg.segread(path)
        volume = seg.get_volume(combine_segments=True, relabel=False, dtype=dtype, skip_overlap_checks=True)
    except INTERRUPTIONS:
        raise
    except Exception as exc:  # noqa: BLE001 - highdicom's geometry refusals are input problems
        raise IngestError(
            "segmentation_unreadable",
            f"Segmentation {path.name!r} cannot be arranged as a volume ({type(exc).__name__}: "
            f"{str(exc)[:300]}). Its frames must form a regular stack.",
        ) from exc
    array = np.asarray(volume.array)
    if array.ndim == 4:  # a channel axis of length one
        array = array[..., 0]
    return resample_labels(array, np.asarray(volume.affine, dtype=np.float64), grid, names=names, source=path.name)


# --------------------------------------------------------------------------------------- NIfTI


def _sidecar_labels(path: Path) -> dict[int, str] | None:
    stem = path.name[:-7] if path.name.lower().endswith(".nii.gz") else path.stem
    for candidate in (path.with_name(stem + ".labels.json"), path.with_name(stem + ".json")):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text())
                return {int(k): str(v) for k, v in data.items()}
            except (ValueError, AttributeError, TypeError) as exc:
                raise IngestError(
                    "labels_invalid",
                    f'{candidate.name} must map label values to names, like {{"1": "liver"}} ({exc}).',
                ) from exc
    return None


def _check_nifti_size(path: Path, img: Any, max_bytes: int) -> None:
    """The declared shape against the cap and, for an uncompressed file, against the bytes present."""
    shape = tuple(int(n) for n in img.shape)
    itemsize = np.dtype(img.get_data_dtype()).itemsize
    nbytes = int(np.prod(shape, dtype=np.float64)) * itemsize if shape else 0
    if nbytes > max_bytes:
        raise IngestError(
            "volume_too_large",
            f"Segmentation {path.name!r} declares a {' x '.join(map(str, shape))} volume "
            f"({nbytes / 1024**3:.2f} GiB); the limit is {max_bytes / 1024**3:.2f} GiB. Upload a label map "
            "of the CT's size.",
        )
    if not path.name.lower().endswith(".gz"):
        offset = int(img.header.get("vox_offset", 352) or 352)
        present = path.stat().st_size - offset
        if present < nbytes:
            raise IngestError(
                "declared_size_mismatch",
                f"Segmentation {path.name!r} declares a {' x '.join(map(str, shape))} volume ({nbytes:,} bytes) "
                f"but holds {max(present, 0):,} bytes of data. Export it again.",
            )


def _load_nifti(path: Path, *, grid: ImageGrid, labels: Mapping[int, str] | None, max_bytes: int) -> LabelMap:
    import nibabel as nib
    from nibabel.spatialimages import SpatialImage

    try:
        img = nib.load(path)
        if not isinstance(img, SpatialImage):  # a CIFTI .nii, say: data without an affine
            raise TypeError(f"a {type(img).__name__} has no affine to place it on the CT")
        _check_nifti_size(path, img, max_bytes)
        data = np.asanyarray(img.dataobj)

        affine = np.asarray(img.affine, dtype=np.float64)
    except IngestError:
        raise
    except INTERRUPTIONS:
        raise
    except Exception as exc:  # noqa: BLE001 - bad bytes, truncated gzip, wrong header
        raise IngestError(
            "segmentation_unreadable",
            f"Segmentation {path.name!r} is not a readable NIfTI file ({type(exc).__name__}: {str(exc)[:200]}).",
        ) from exc
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise IngestError(
            "segmentation_not_labels",
            f"Segmentation {path.name!r} has shape {data.shape}; a label map is one 3-D volume.",
        )
    if not np.issubdtype(data.dtype, np.integer):
        rounded = np.rint(data)
        if not np.array_equal(rounded, data):
            raise IngestError(
                "segmentation_not_labels",
                f"Segmentation {path.name!r} holds fractional values (a probability map?). Upload an "
                "integer label map: 0 for background, 1, 2, ... for the structures.",
            )
        data = rounded
    if data.size and (data.min() < 0 or data.max() > 65535):
        raise IngestError(
            "segmentation_not_labels",
            f"Segmentation {path.name!r} has label values outside 0..65535 ({data.min()}..{data.max()}).",
        )
    max_label = int(data.max()) if data.size else 0
    data = data.astype(_label_dtype(max_label), copy=False)
    present = [int(v) for v in np.flatnonzero(np.bincount(data.ravel(), minlength=max_label + 1)) if v]
    given = dict(labels) if labels else _sidecar_labels(path) or {}
    names = {v: str(given.get(v, f"label {v}")) for v in present}
    resampled, info = resample_labels(data, _RAS_TO_LPS @ affine, grid, names=names, source=path.name)
    metadata = {
        "format": "nifti",
        "labels_without_name": [v for v in present if v not in given],
        "names_without_label": sorted(int(k) for k in given if int(k) not in present),
        **info,
    }
    return LabelMap(array=resampled, names=names, metadata=metadata)


# --------------------------------------------------------------------------------------- resampling


def _count_labels(array: np.ndarray, max_label: int) -> np.ndarray:
    counts = np.zeros(max_label + 1, dtype=np.int64)
    for chunk in array.reshape(array.shape[0], -1):  # row by row: no 8-byte copy of the volume
        counts += np.bincount(chunk, minlength=max_label + 1)[: max_label + 1]
    return counts


def resample_labels(
    src: np.ndarray,
    src_affine: np.ndarray,
    grid: ImageGrid,
    *,
    names: Mapping[int, str],
    source: str,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Nearest-neighbour resampling of ``src`` (array indices -> LPS by ``src_affine``) onto ``grid``.

    When both grids share axes (up to order and sign) the lookup is separable: one index vector per
    axis, and a plain slice copy when spacings also match, which is the usual case of a SEG made on
    the same CT. Otherwise each target slice is mapped through the full affine.
    """
    target_affine = grid.array_affine()
    mapping = np.linalg.inv(src_affine) @ target_affine  # target (z, y, x) -> continuous src index
    rot, shift = mapping[:3, :3], mapping[:3, 3]
    out = np.zeros(grid.shape, dtype=src.dtype)
    max_label = int(src.max()) if src.size else 0
    src_counts = _count_labels(src, max_label)
    dominant = _separable_axes(rot)
    same_grid = (
        dominant is not None
        and np.allclose(np.abs(rot[np.arange(3), dominant]), 1.0, atol=1e-4)
        and np.allclose(shift, np.rint(shift), atol=1e-3)
    )
    cover_all = False
    if dominant is not None:
        cover_all = _resample_separable(src, out, rot, shift, dominant)
    else:
        _resample_general(src, out, rot, shift)
    out_counts = _count_labels(out, max_label)
    _check_coverage(src_counts, out_counts, src_affine, grid, names=names, source=source, exact=same_grid)
    info = {
        "resampled": not same_grid,
        "cropped_source": bool(same_grid and not cover_all),
        "source_shape": list(src.shape),
        "source_voxel_mm3": float(abs(np.linalg.det(src_affine[:3, :3]))),
    }
    return out, info


def _separable_axes(rot: np.ndarray) -> np.ndarray | None:
    """For each src axis the target axis it follows, when the grids share axes (up to order and sign)."""
    dominant = np.argmax(np.abs(rot), axis=1)
    separable = len(set(dominant.tolist())) == 3 and all(
        np.all(np.abs(np.delete(rot[a], dominant[a])) <= _AXIS_TOL * np.abs(rot[a, dominant[a]])) for a in range(3)
    )
    return dominant if separable else None


def _resample_separable(
    src: np.ndarray, out: np.ndarray, rot: np.ndarray, shift: np.ndarray, dominant: np.ndarray
) -> bool:
    """One index lookup per axis, a plain slice copy when it can be. True when ``src`` covers ``out`` exactly."""
    perm = [0, 0, 0]  # perm[b] = src axis that follows target axis b
    for a in range(3):
        perm[int(dominant[a])] = a
    src_p = src.transpose(perm)
    src_sel: list[slice | np.ndarray] = []
    tgt_sel: list[slice] = []
    for b in range(3):
        a = perm[b]
        idx = np.rint(rot[a, b] * np.arange(out.shape[b]) + shift[a]).astype(np.int64)
        lookup = _axis_lookup(idx, src_p.shape[b])
        if lookup is None:
            return False  # the source misses the target along this axis: nothing to copy
        tgt_sel.append(lookup[0])
        src_sel.append(lookup[1])
    cover_all = src_p.shape == out.shape and all(s == slice(0, n) for s, n in zip(tgt_sel, out.shape, strict=True))
    if all(isinstance(s, slice) for s in src_sel):
        out[tuple(tgt_sel)] = src_p[tuple(src_sel)]
    else:
        ix = [s if isinstance(s, np.ndarray) else np.arange(src_p.shape[b])[s] for b, s in enumerate(src_sel)]
        out[tuple(tgt_sel)] = src_p[np.ix_(*ix)]
    return cover_all


def _axis_lookup(idx: np.ndarray, n_src: int) -> tuple[slice, slice | np.ndarray] | None:
    """The target range whose source index ``idx`` is inside ``0..n_src-1``, and those source indices.

    The source indices are a slice when they step by one either way (a view, no gather), else an array.
    """
    valid = np.flatnonzero((idx >= 0) & (idx < n_src))
    if valid.size == 0:
        return None
    t0, t1 = int(valid[0]), int(valid[-1]) + 1
    part = idx[t0:t1]
    steps = np.diff(part)
    if part.size == 1 or np.all(steps == 1):
        return slice(t0, t1), slice(int(part[0]), int(part[-1]) + 1)
    if np.all(steps == -1):
        stop = int(part[-1]) - 1
        return slice(t0, t1), slice(int(part[0]), None if stop < 0 else stop, -1)
    return slice(t0, t1), part


def _resample_general(src: np.ndarray, out: np.ndarray, rot: np.ndarray, shift: np.ndarray) -> None:
    """Each target slice mapped through the full affine (grids that do not share axes)."""
    zz = np.arange(out.shape[0], dtype=np.float64)
    yy, xx = np.meshgrid(
        np.arange(out.shape[1], dtype=np.float64),
        np.arange(out.shape[2], dtype=np.float64),
        indexing="ij",
    )
    for z in range(len(zz)):
        coords = [
            np.rint(rot[a, 0] * z + rot[a, 1] * yy + rot[a, 2] * xx + shift[a]).astype(np.int64) for a in range(3)
        ]
        valid = np.ones(yy.shape, dtype=bool)
        for a in range(3):
            valid &= (coords[a] >= 0) & (coords[a] < src.shape[a])
        if valid.any():
            out[z][valid] = src[coords[0][valid], coords[1][valid], coords[2][valid]]


def _check_coverage(
    src_counts: np.ndarray,
    out_counts: np.ndarray,
    src_affine: np.ndarray,
    grid: ImageGrid,
    *,
    names: Mapping[int, str],
    source: str,
    exact: bool,
    same_voxel: bool = False,
) -> None:
    """Refuse when labelled volume disappears in the move: the labels lie outside the CT."""
    tgt_voxel = grid.voxel_volume_mm3
    src_voxel = tgt_voxel if same_voxel else abs(np.linalg.det(src_affine[:3, :3]))
    labelled = [v for v in range(1, len(src_counts)) if src_counts[v]]
    if not labelled:
        raise IngestError("segmentation_empty", f"Segmentation {source!r} contains no labelled voxel.")
    if not out_counts[1:].any():
        raise IngestError(
            "segmentation_outside_volume",
            f"None of the labelled voxels of {source!r} falls inside the CT volume: the segmentation "
            "belongs to another scan, or was saved without the CT's geometry (check its affine / "
            "image position). Upload the segmentation made on this series.",
        )
    # Same-size voxels: counts must match up to what fell outside. Different sizes: nearest-neighbour
    # volumes drift a little, so only large losses (a label cut in half) are refused.
    tolerance = _MAX_OUTSIDE_FRACTION if exact else 0.25
    for v in labelled:
        before = src_counts[v] * src_voxel
        after = out_counts[v] * tgt_voxel
        lost = 1.0 - after / before
        if lost > tolerance:
            raise IngestError(
                "segmentation_outside_volume",
                f"Label {v} ({names.get(v, 'unnamed')}) of {source!r} lies {lost:.0%} outside the CT volume "
                f"({before / 1000:.1f} ml labelled, {after / 1000:.1f} ml inside): the segmentation does not "
                "match this series' extent. Upload the segmentation made on this series.",
            )
