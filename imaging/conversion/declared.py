"""Sizes a DICOM header declares, checked against the bytes present and the caps before use.

A header is a claim. ``NumberOfFrames`` may say 100,000 where the file holds four frames; ``Rows`` and
``Columns`` may promise a 65,535 x 65,535 image in a 2 KB file; a per-frame functional group sequence
may describe more frames than the pixel data holds; an undefined-length sequence may nest a million
empty items. Trusted, the first made one ingest loop for five minutes over 4.7 GB before failing.
Here every such number is checked *before* a loop or an allocation depends on it:

- ``guarded_read`` parses a header through a window that refuses (``header_too_large``) a header
  longer than ``max_header_bytes`` or holding more than ``max_header_items`` sequence items, counted
  at C speed before pydicom parses anything (pydicom builds Python objects per item: 70-140
  microseconds each, measured, so 50,000 items cost 4-7 s to parse), and refuses a deflated
  dataset that would inflate past the cap before pydicom inflates it in memory;
- ``check_pixel_format`` refuses impossible values (``implausible_header``): zero rows, 7 bits
  allocated, more bits stored than allocated, a high bit elsewhere than ``BitsStored - 1``, 4 samples;
- ``check_frames`` refuses more frames than ``max_frames`` (``too_many_frames``) and a per-frame
  functional group sequence whose item count differs from ``NumberOfFrames``;
- ``check_pixel_bytes`` reads the Pixel Data element's own header (a few bytes at the offset the scan
  saw) and refuses a native element shorter than the declared frames (``declared_size_mismatch``), a
  file cut short inside its pixel data (``corrupt_pixel_data``), and encapsulated data with fewer
  fragments than frames (each frame needs at least one).

All of it reads at most a few bytes per frame: a lying file fails in milliseconds.
"""

from __future__ import annotations

import io
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from .errors import INTERRUPTIONS
from .headers import PixelFormat

DEFLATED = "1.2.840.10008.1.2.1.99"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
IMPLICIT_LE = "1.2.840.10008.1.2"
_NATIVE = frozenset({"", IMPLICIT_LE, "1.2.840.10008.1.2.1", BIG_ENDIAN})
_ITEM_TAG = b"\xfe\xff\x00\xe0"
_SEQUENCE_END = b"\xfe\xff\xdd\xe0"
_PIXEL_TAG_LE = b"\xe0\x7f\x10\x00"
_PIXEL_TAG_BE = b"\x7f\xe0\x00\x10"
_UNDEFINED = 0xFFFFFFFF
_MAX_DIMENSION = 65535  # Rows and Columns are US


class DeclaredSizeError(Exception):
    """A header whose declared sizes cannot be trusted: ``code`` is the refusal, ``reason`` says why."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class HeaderCaps:
    """What one header may cost before it is refused (``Limits`` carries the configured values)."""

    max_header_bytes: int = 64 * 1024**2
    max_header_items: int = 50_000
    max_frames: int = 20_000
    max_inflated_bytes: int = 2 * 1024**3


def _count_items(fh: Any, caps: HeaderCaps) -> int:
    """Sequence item tags before the first Pixel Data tag, counted at C speed before pydicom builds them.

    Returns how far the count went; past that the window counts the items pydicom reads (a Pixel Data
    tag planted early in some value must not hide what follows).
    """
    items = position = 0
    chunk_size = 64 * 1024  # most headers end inside the first chunk
    while position < caps.max_header_bytes:
        chunk = fh.read(min(chunk_size, caps.max_header_bytes - position))
        if not chunk:
            break
        stops = [i for i in (chunk.find(_PIXEL_TAG_LE), chunk.find(_PIXEL_TAG_BE)) if i >= 0]
        end = min(stops) if stops else len(chunk)
        items += chunk.count(_ITEM_TAG, 0, end)
        if items > caps.max_header_items:
            raise _too_many_items(caps)
        position += end
        if stops:
            break
        chunk_size = 1024 * 1024
    fh.seek(0)
    return position


def _too_many_items(caps: HeaderCaps) -> DeclaredSizeError:
    return DeclaredSizeError(
        "header_too_large",
        f"its header nests more than {caps.max_header_items:,} sequence items before the pixel data",
    )


class _Window(io.RawIOBase):
    """A read-only view of a file that stops pydicom at the caps of ``HeaderCaps``.

    Past ``counted_until`` it counts the sequence item tags pydicom reads (a few bytes per read, so
    an item tag is a read of its own). At a cap it answers end-of-file and remembers why: pydicom
    turns an exception raised inside its reads into an OSError, so the reason is kept here.
    """

    def __init__(self, fh: Any, caps: HeaderCaps, counted_until: int) -> None:
        super().__init__()
        self._fh = fh
        self._caps = caps
        self._counted_until = counted_until
        self.items = 0
        self.exceeded: DeclaredSizeError | None = None
        self.name = getattr(fh, "name", None)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return int(self._fh.seek(offset, whence))

    def tell(self) -> int:
        return int(self._fh.tell())

    def read(self, size: int | None = -1) -> bytes:
        start = self._fh.tell()
        limit = self._caps.max_header_bytes - start
        if limit <= 0:
            self.exceeded = DeclaredSizeError(
                "header_too_large",
                f"its header runs past {self._caps.max_header_bytes / 1024**2:.0f} MiB without reaching the pixel data",
            )
            return b""
        data: bytes = self._fh.read(limit if size is None or size < 0 or size > limit else size)
        if len(data) <= 16 and start >= self._counted_until:
            self.items += data.count(_ITEM_TAG)
            if self.items > self._caps.max_header_items:
                self.exceeded = _too_many_items(self._caps)
                return b""
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _check_inflated_size(fh: Any, caps: HeaderCaps) -> None:
    """A deflated dataset is inflated whole by pydicom: measure it first, chunk by chunk, against the cap."""
    head = fh.read(4096)
    fh.seek(0)
    if DEFLATED.encode() not in head:
        return
    try:
        pydicom.filereader.read_preamble(fh, False)
        meta = pydicom.filereader._read_file_meta_info(fh)
    except INTERRUPTIONS:
        raise
    except Exception:  # noqa: BLE001 - not a File Meta after all: pydicom's own read reports it
        fh.seek(0)
        return
    if str(meta.get("TransferSyntaxUID", "")) != DEFLATED:
        fh.seek(0)
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    while chunk := fh.read(1 << 20):
        while chunk:
            try:
                out = inflater.decompress(chunk, 1 << 22)
            except zlib.error:
                fh.seek(0)
                return  # damaged: pydicom's read reports it
            total += len(out)
            if total > caps.max_inflated_bytes:
                raise DeclaredSizeError(
                    "archive_too_large",
                    f"its deflated dataset inflates to more than {caps.max_inflated_bytes / 1024**3:.2f} GiB "
                    "(a deflate bomb)",
                )
            chunk = inflater.unconsumed_tail
    fh.seek(0)


def guarded_read(path: Path, caps: HeaderCaps, **kwargs: Any) -> tuple[Dataset, int]:
    """``dcmread(path, stop_before_pixels=True, **kwargs)`` within the caps; the dataset and where
    the Pixel Data element starts (pydicom stops with the file at its tag)."""
    with open(path, "rb") as fh:
        _check_inflated_size(fh, caps)
        window = _Window(fh, caps, _count_items(fh, caps))
        try:
            ds = pydicom.dcmread(window, stop_before_pixels=True, **kwargs)
        except InvalidDicomError:
            raise
        except INTERRUPTIONS:
            raise
        except Exception:
            if window.exceeded is not None:
                raise window.exceeded from None
            raise
        if window.exceeded is not None:
            raise window.exceeded
        return ds, window.tell()


def check_pixel_format(fmt: PixelFormat) -> None:
    """Values DICOM does not allow, refused before any size is computed from them."""
    problems = []
    if fmt.rows is not None and not 0 < fmt.rows <= _MAX_DIMENSION:
        problems.append(f"Rows {fmt.rows}")
    if fmt.columns is not None and not 0 < fmt.columns <= _MAX_DIMENSION:
        problems.append(f"Columns {fmt.columns}")
    if fmt.bits_allocated not in (1, 8, 16, 32, 64):
        problems.append(f"BitsAllocated {fmt.bits_allocated}")
    elif not 0 < fmt.bits_stored <= fmt.bits_allocated:
        problems.append(f"BitsStored {fmt.bits_stored} with BitsAllocated {fmt.bits_allocated}")
    elif fmt.high_bit is not None and fmt.high_bit != fmt.bits_stored - 1:
        problems.append(f"HighBit {fmt.high_bit} with BitsStored {fmt.bits_stored} (data not in the low bits)")
    if fmt.samples_per_pixel not in (1, 3):
        problems.append(f"SamplesPerPixel {fmt.samples_per_pixel}")
    if fmt.frames < 1:
        problems.append(f"NumberOfFrames {fmt.frames}")
    if problems:
        raise DeclaredSizeError("implausible_header", "its header declares " + ", ".join(problems))


def check_frames(ds: Dataset, fmt: PixelFormat, caps: HeaderCaps) -> None:
    """NumberOfFrames within the cap, and matched by the per-frame functional groups when present."""
    if fmt.frames > caps.max_frames:
        raise DeclaredSizeError(
            "too_many_frames",
            f"it declares {fmt.frames:,} frames; one file or series may hold at most {caps.max_frames:,}",
        )
    if "PerFrameFunctionalGroupsSequence" in ds:
        items = len(ds.PerFrameFunctionalGroupsSequence or [])
        if items != fmt.frames:
            raise DeclaredSizeError(
                "declared_size_mismatch",
                f"it declares {fmt.frames:,} frames but its per-frame functional groups describe {items:,}",
            )


def check_pixel_bytes(path: Path, offset: int, transfer_syntax: str, fmt: PixelFormat) -> None:
    """The Pixel Data element at ``offset`` holds what the header declares (a few bytes read per frame)."""
    if transfer_syntax == DEFLATED:
        return  # the offset is in the inflated stream: the decoder checks lengths (the size was capped)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(offset)
        head = fh.read(12)
        if len(head) < 8 or head[:4] not in (_PIXEL_TAG_LE, _PIXEL_TAG_BE):
            raise DeclaredSizeError("damaged_file", "it has no Pixel Data (truncated or incomplete)")
        value_start, length = _element_length(head, transfer_syntax)
        available = size - offset - value_start
        if length == _UNDEFINED:
            fh.seek(offset + value_start)
            _check_fragments(fh, available, fmt)
            return
    _check_native_length(length, available, transfer_syntax, fmt)


def _element_length(head: bytes, transfer_syntax: str) -> tuple[int, int]:
    """(offset of the value from the tag, the value length) for the three native encodings."""
    order: Literal["big", "little"] = "big" if transfer_syntax == BIG_ENDIAN else "little"
    if head[4:6] in (b"OB", b"OW", b"OF", b"OD", b"UN", b"OV"):  # explicit VR: tag, VR, 2 reserved, length
        return 12, int.from_bytes(head[8:12], order)
    return 8, int.from_bytes(head[4:8], order)  # implicit VR: tag, length


def _check_native_length(length: int, available: int, transfer_syntax: str, fmt: PixelFormat) -> None:
    if transfer_syntax not in _NATIVE:
        raise DeclaredSizeError(
            "corrupt_pixel_data",
            "its compressed pixel data is not encapsulated (defined length where fragments belong)",
        )
    needed = fmt.total_bytes
    if length < needed:
        raise DeclaredSizeError(
            "declared_size_mismatch",
            f"its header declares {fmt.frames:,} frame(s) of {fmt.rows}x{fmt.columns} at {fmt.bits_allocated} bits "
            f"({needed:,} bytes) but its Pixel Data holds {length:,} bytes",
        )
    if available < needed:
        raise DeclaredSizeError(
            "corrupt_pixel_data",
            f"its pixel data is cut short: {needed:,} bytes declared, {max(available, 0):,} present (truncated file)",
        )


def _check_fragments(fh: Any, available: int, fmt: PixelFormat) -> None:
    """Encapsulated pixel data: walk the item headers (8 bytes each) until every frame has a fragment."""
    fragments = 0
    position = 0
    first = True
    while fragments < fmt.frames:
        head = fh.read(8)
        if len(head) < 8 or head[:4] == _SEQUENCE_END:
            break
        if head[:4] != _ITEM_TAG:
            raise DeclaredSizeError("corrupt_pixel_data", "its encapsulated pixel data has a malformed item")
        length = int.from_bytes(head[4:8], "little")
        position += 8 + length
        if position > available:
            raise DeclaredSizeError(
                "corrupt_pixel_data",
                "its compressed pixel data is cut short (a fragment runs past the end of the file)",
            )
        if not first:
            fragments += 1
        first = False  # the first item is the Basic Offset Table
        fh.seek(length, os.SEEK_CUR)
    if fragments < fmt.frames:
        raise DeclaredSizeError(
            "declared_size_mismatch",
            f"its header declares {fmt.frames:,} frame(s) but its compressed pixel data holds {fragments:,} "
            "fragment(s) (each frame needs at least one)",
        )
