"""One series, one stack: stray images and minority acquisitions split off, with a warning.

Real series carry passengers: a localizer the scanner did not mark as one (another orientation,
another size), a zoomed reconstruction of one slice (another pixel spacing), or a few slices of a
second acquisition repeating positions of the first. When one stack clearly dominates (at least
twice the frames of the next), the others are left out and a warning says how many, and why. When
none dominates (two phases of equal length, axial and coronal reconstructions of one size), which one
the curator wants is truly ambiguous: nothing is split, and the geometry checks refuse the series
with every group named.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Hashable

import numpy as np

from .headers import FrameHeader
from .series import SeriesInfo

_ORIENTATION_DIGITS = 3
_DOMINANCE = 2.0  # the main stack has at least this many times the frames of the next one


_Geometry = tuple[tuple[float, ...], tuple[int | None, int | None], tuple[float, ...]]


def _geometry(frame: FrameHeader) -> _Geometry:
    assert frame.orientation is not None and frame.pixel_spacing is not None, "checked by the caller"
    return (
        tuple(round(v, _ORIENTATION_DIGITS) + 0.0 for v in frame.orientation),
        (frame.rows, frame.columns),
        tuple(round(v, 3) + 0.0 for v in frame.pixel_spacing),
    )


def _acquisition(frame: FrameHeader) -> tuple[int | None, int | None]:
    return (frame.acquisition_number, frame.temporal_position)


def _dominant(frames: list[FrameHeader], key: Callable[[FrameHeader], Hashable]) -> tuple[Hashable, int, int] | None:
    """(key of the dominant group, its size, frames left out), or None when no group dominates."""
    counts = Counter(key(f) for f in frames)
    if len(counts) < 2:
        return None
    (main, n_main), (_, n_next) = counts.most_common(2)
    if n_main < _DOMINANCE * n_next:
        return None
    return main, n_main, len(frames) - n_main


def _plane(orientation: tuple[float, ...]) -> str:
    normal = np.cross(orientation[:3], orientation[3:])
    axis = int(np.argmax(np.abs(normal)))
    return "oblique" if abs(normal[axis]) < 1 - 1e-3 else ("sagittal", "coronal", "axial")[axis]


def _how_they_differ(kept: FrameHeader, dropped: list[FrameHeader]) -> str:
    differences = []
    if any(f.orientation is not None and _geometry(f)[0] != _geometry(kept)[0] for f in dropped):
        planes = sorted({_plane(f.orientation) for f in dropped if f.orientation is not None})
        differences.append(f"another orientation ({', '.join(planes)})")
    if any((f.rows, f.columns) != (kept.rows, kept.columns) for f in dropped):
        differences.append("another image size")
    if any(f.pixel_spacing != kept.pixel_spacing for f in dropped):
        differences.append("another pixel spacing")
    return " and ".join(differences) or "another geometry"


def separate(series: SeriesInfo, *, localizers: int = 0) -> SeriesInfo:
    """The series' main stack (or the series itself when nothing needs splitting), with warnings.

    ``localizers`` counts the images of the series the scan set aside as localizers (ImageType).
    """
    frames = series.frames
    warnings: list[str] = []
    if localizers:
        warnings.append(
            f"{localizers} localizer image(s) of series {series.uid} were left out (their ImageType says LOCALIZER)."
        )
    if frames and all(f.orientation is not None and f.pixel_spacing is not None for f in frames):
        frames, note = _split_geometry(series.uid, frames)
        warnings += note
        frames, note = _split_acquisitions(series.uid, frames)
        warnings += note
    if len(frames) == len(series.frames) and not warnings:
        return series
    kept_files = len({f.path for f in frames})
    return dataclasses.replace(series, frames=frames, files=kept_files, warnings=[*series.warnings, *warnings])


def _split_geometry(uid: str, frames: list[FrameHeader]) -> tuple[list[FrameHeader], list[str]]:
    found = _dominant(frames, _geometry)
    if found is None:
        return frames, []
    main, n_main, n_out = found
    kept = [f for f in frames if _geometry(f) == main]
    dropped = [f for f in frames if _geometry(f) != main]
    note = (
        f"{n_out} image(s) of series {uid} with {_how_they_differ(kept[0], dropped)} than its other {n_main} "
        "were left out (unmarked localizers or a stray reconstruction); the series was converted without them."
    )
    return kept, [note]


def _has_repeated_positions(frames: list[FrameHeader]) -> bool:
    positions = np.asarray([f.position for f in frames if f.position is not None], dtype=np.float64)
    if len(positions) < 2:
        return False
    unique = np.unique(np.round(positions, 2), axis=0)
    return len(unique) < len(positions)


def _split_acquisitions(uid: str, frames: list[FrameHeader]) -> tuple[list[FrameHeader], list[str]]:
    """Repeated positions from a minority acquisition: keep the main acquisition."""
    if not _has_repeated_positions(frames):
        return frames, []
    found = _dominant(frames, _acquisition)
    if found is None:
        return frames, []
    main, n_main, n_out = found
    kept = [f for f in frames if _acquisition(f) == main]
    if _has_repeated_positions(kept):
        return frames, []  # the main acquisition repeats itself: the duplicate check explains it
    acquisition, temporal = _acquisition(kept[0])
    which = f"AcquisitionNumber {acquisition}" if acquisition is not None else f"temporal position {temporal}"
    note = (
        f"Series {uid} holds {n_out} image(s) of other acquisitions at positions its main acquisition "
        f"({which}, {n_main} images) also covers; the series was split and only the main acquisition converted."
    )
    return kept, [note]
