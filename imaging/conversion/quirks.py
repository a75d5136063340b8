"""The common quirks of real exports, each answered with the right values and a warning.

Decided one by one (``docs/dicom-tolerance.md`` lists them with the tests that decide them):

- **Slice order.** Slices are always sorted by ImagePositionPatient along the slice normal. When the
  InstanceNumber or SliceLocation order disagrees with the positions (a reader that sorts by them
  would stack the volume wrongly), a warning says so; the positions win.
- **Stray high bits.** With BitsStored below BitsAllocated, the bits above are not part of the value
  (old scanners keep overlays there). They are masked off (signed values sign-extended from the high
  bit), and a warning counts the slices that had any.
- **A PixelRepresentation that contradicts the data.** 16-bit data declared unsigned whose values
  cluster just below 65536 with nothing in between is two's complement (air at 64536 is -1000): it is
  read as signed, with a warning. Anything less clear-cut is read as the header says.
- **PixelPaddingValue outside the body.** Padding (e.g. -2000 stored, -3024 HU) below air is set to
  -1024 HU, the air value of CT, so windowing and the scalar range reflect the patient; a warning
  counts the voxels.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .headers import FrameHeader

AIR_HU = -1024.0
_NEGATIVE_FLOOR = 0xF800  # -2048 as a 16-bit two's complement value
_MIDDLE = (0x4000, _NEGATIVE_FLOOR)  # values no CT stores (16384..63487 HU before rescale)


def _out_of_order(values: list[float]) -> int:
    """How many neighbours step against the majority direction (0 when monotonic either way)."""
    steps = np.sign(np.diff(np.asarray(values, dtype=np.float64)))
    steps = steps[steps != 0]
    if steps.size == 0:
        return 0
    majority = 1.0 if (steps > 0).sum() >= (steps < 0).sum() else -1.0
    return int((steps != majority).sum())


def order_warnings(uid: str, frames: list[FrameHeader]) -> list[str]:
    """Warnings when InstanceNumber or SliceLocation order disagrees with the (sorted) positions."""
    notes = []
    for keyword, values in (
        ("InstanceNumber", [f.instance_number for f in frames]),
        ("SliceLocation", [f.slice_location for f in frames]),
    ):
        if len(frames) < 3 or any(v is None for v in values) or len({*values}) < len(values):
            continue
        wrong = _out_of_order([float(v) for v in values if v is not None])
        if wrong:
            notes.append(
                f"In series {uid} the {keyword} order disagrees with the slice positions ({wrong} of "
                f"{len(frames) - 1} steps go the other way): the slices were sorted by ImagePositionPatient, "
                f"as a reader that sorts by {keyword} would not."
            )
    return notes


@dataclass
class PixelNotes:
    """What the read changed in the stored values, counted for the warnings."""

    counts: Counter[str] = field(default_factory=Counter)

    def warnings(self, uid: str) -> list[str]:
        notes = []
        if self.counts["stray_bits"]:
            notes.append(
                f"{self.counts['stray_bits']} slice(s) of series {uid} have bits set above BitsStored; they were "
                "masked off (only the stored bits are the value)."
            )
        if self.counts["signed_reinterpreted"]:
            notes.append(
                f"{self.counts['signed_reinterpreted']} slice(s) of series {uid} are declared unsigned "
                "(PixelRepresentation 0) but hold two's-complement negative values; they were read as signed."
            )
        if self.counts["padding_voxels"]:
            notes.append(
                f"{self.counts['padding_voxels']:,} voxel(s) of series {uid} carry the PixelPaddingValue (outside "
                f"the body, below air); they were set to {AIR_HU:g} HU."
            )
        return notes


def mask_bits(raw: np.ndarray, bits_stored: int, signed: bool, notes: PixelNotes) -> np.ndarray:
    """Only the low ``bits_stored`` bits are the value: mask the rest, sign-extend signed values."""
    unsigned = raw.view(np.dtype(f"u{raw.dtype.itemsize}"))
    mask = (1 << bits_stored) - 1
    value = unsigned & unsigned.dtype.type(mask)
    sign_bit = 1 << (bits_stored - 1)
    if signed:
        extended = value.astype(np.int64)
        extended = np.where(extended & sign_bit, extended - (1 << bits_stored), extended)
        stray = bool(np.any(raw.astype(np.int64) != extended))
        result: np.ndarray = extended.astype(np.dtype(f"i{raw.dtype.itemsize}"))
    else:
        stray = bool(np.any(unsigned != value))
        result = value
    if stray:
        notes.counts["stray_bits"] += 1
    return result


def fix_signedness(raw: np.ndarray, notes: PixelNotes) -> np.ndarray:
    """Unsigned 16-bit data that is plainly two's complement, read as signed."""
    if raw.dtype != np.uint16 or int(raw.max()) < _NEGATIVE_FLOOR:
        return raw
    if np.any((raw >= _MIDDLE[0]) & (raw < _MIDDLE[1])):
        return raw
    notes.counts["signed_reinterpreted"] += 1
    return raw.view(np.int16)


def padding_mask(raw: np.ndarray, frame: FrameHeader) -> np.ndarray | None:
    """The pixels of ``raw`` carrying the padding value, when padding lies below air once rescaled."""
    if frame.padding is None:
        return None
    lo, hi = frame.padding
    if raw.dtype.kind == "i" and hi > np.iinfo(raw.dtype).max:  # the header wrote a signed value as US
        bits = 8 * raw.dtype.itemsize
        lo, hi = (v - (1 << bits) if v >= 1 << (bits - 1) else v for v in (lo, hi))
        lo, hi = min(lo, hi), max(lo, hi)
    if max(frame.slope * lo + frame.intercept, frame.slope * hi + frame.intercept) >= AIR_HU:
        return None  # padding at or above air: the values are plausible as they are
    mask = (raw >= lo) & (raw <= hi)
    return mask if mask.any() else None
