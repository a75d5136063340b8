"""Writing the CT volume for the viewer: a zlib-compressed ``.vti``, a half-resolution level, metadata, a PNG.

Why not ``vtkXMLImageDataWriter``: it compresses on one thread with stock zlib, which measured
2.1 s for a 512x512x300 CT at level 1 (the slowest part of an ingest after decimation). This writer
emits the same VTK XML format (ImageData, appended raw data, UInt64 header, ``vtkZLibDataCompressor``
blocks), the subset that vtk.js reads, and compresses the blocks in a thread pool, with ISA-L's
zlib-compatible deflate when the ``isal`` package is installed (several times faster than zlib at
the same ratio; the stream is ordinary zlib, so VTK, vtk.js (fflate) and Python's ``zlib`` all
inflate it). Blocks are written in order as they complete; the block-size header is patched in at the
end, so at most a few blocks are ever held in memory.

The *preview level* (``half_resolution``) is the same volume at half the resolution in each axis, for
a fast first view: an eighth of the voxels, so vtk.js inflates and parses it in a fraction of the
time and memory of the full level. It keeps the world geometry: its first voxel centre is the full
level's, its spacing is doubled, and its bounds match to within half a coarse voxel.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import numpy as np

from .geometry import ImageGrid


def _optional_isal() -> ModuleType | None:
    """ISA-L deflate: the same zlib stream, several times faster; optional."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - exercised only where isal is absent
        return None
    return isal_zlib


_fast_zlib = _optional_isal()

VTK_TYPES = {
    np.dtype(np.int8): "Int8",
    np.dtype(np.uint8): "UInt8",
    np.dtype(np.int16): "Int16",
    np.dtype(np.uint16): "UInt16",
    np.dtype(np.int32): "Int32",
    np.dtype(np.uint32): "UInt32",
    np.dtype(np.float32): "Float32",
    np.dtype(np.float64): "Float64",
}
DEFAULT_BLOCK_BYTES = 1 << 20
_STREAM_STEP = 4 << 20
SCALARS_NAME = "HU"
# Coarse voxels filtered at a time by ``half_resolution`` (bounds its temporary float32 memory).
_HALF_SLAB = 16


def compressor() -> tuple[str, Callable[[bytes | memoryview], bytes], Callable[[], Any]]:
    """The deflate implementation in use: its name, a level-1 compress function, a compressobj."""
    fast = _fast_zlib
    if fast is not None:
        return "isal", lambda data: fast.compress(data, 1), lambda: fast.compressobj(1)
    return "zlib", lambda data: zlib.compress(data, 1), lambda: zlib.compressobj(1)


def _fmt(values: Any) -> str:
    return " ".join(repr(float(v)) for v in values)


@dataclass(frozen=True)
class _Blocks:
    """How the raw bytes are cut into compressed blocks: whole elements per block (as VTK does)."""

    size: int  # bytes per block (the last one may be shorter)
    count: int
    last_partial: int  # bytes of a shorter last block, 0 when it is full (VTK's header field)

    @classmethod
    def of(cls, total: int, itemsize: int, block_bytes: int | None) -> _Blocks:
        whole = total if block_bytes is None else (block_bytes // itemsize) * itemsize  # None: one block
        size = max(itemsize, whole)
        count = (total + size - 1) // size if total else 0
        last = total - (count - 1) * size if count else 0
        return cls(size=size, count=count, last_partial=0 if last == size else last)


def write_vti(
    path: Path,
    array: np.ndarray,
    grid: ImageGrid,
    *,
    name: str = SCALARS_NAME,
    block_bytes: int | None = DEFAULT_BLOCK_BYTES,
    workers: int | None = None,
    scalar_range: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Write ``array`` (shape ``grid.shape``) as a zlib-compressed VTK XML ImageData file.

    Blocks of ``block_bytes`` are compressed in parallel by ``workers`` threads. With
    ``block_bytes=None`` the whole array is one block, deflated as a stream on the calling thread in
    4 MiB steps: each step runs outside the GIL, so this is the mode to use when the CPU is shared with
    other work (the pipeline meshes meanwhile), and it never holds the compressed volume in memory.
    Returns a small report: bytes written, compression ratio, compressor and block count.
    """
    if array.shape != grid.shape:
        raise ValueError(f"array shape {array.shape} does not match grid {grid.shape}")
    vtk_type = VTK_TYPES[np.dtype(array.dtype.name)]  # the name ignores byte order
    flat = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).reshape(-1)  # no copy if LE
    raw = flat.data.cast("B")
    total = raw.nbytes
    blocks = _Blocks.of(total, flat.itemsize, block_bytes)
    if scalar_range is None:
        scalar_range = (float(flat.min()), float(flat.max())) if total else (0.0, 0.0)
    name_used, compress, compressobj = compressor()
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(_xml_head(grid, vtk_type=vtk_type, name=name, scalar_range=scalar_range))
        header_at = fh.tell()
        fh.write(b"\0" * (8 * (3 + blocks.count)))  # patched below, once the block sizes are known
        if blocks.count == 1:
            sizes = [_deflate_stream(fh, raw, compressobj())]
        else:
            sizes = _deflate_blocks(fh, raw, blocks, compress, workers or min(4, os.cpu_count() or 1))
        fh.write(_XML_TAIL)
        fh.seek(header_at)
        fh.write(struct.pack(f"<{3 + blocks.count}Q", blocks.count, blocks.size, blocks.last_partial, *sizes))
    os.replace(tmp, path)
    written = path.stat().st_size
    return {
        "bytes": written,
        "raw_bytes": total,
        "ratio": round(written / total, 4) if total else 1.0,
        "blocks": blocks.count,
        "compressor": name_used,
    }


def _xml_head(grid: ImageGrid, *, vtk_type: str, name: str, scalar_range: tuple[float, float]) -> bytes:
    """The XML before the appended data, up to and including the ``_`` that starts it."""
    nx, ny, nz = grid.dimensions
    extent = f"0 {nx - 1} 0 {ny - 1} 0 {nz - 1}"
    return (
        '<?xml version="1.0"?>\n'
        '<VTKFile type="ImageData" version="1.0" byte_order="LittleEndian" header_type="UInt64" '
        'compressor="vtkZLibDataCompressor">\n'
        f'  <ImageData WholeExtent="{extent}" Origin="{_fmt(grid.origin)}" Spacing="{_fmt(grid.spacing)}" '
        f'Direction="{_fmt(grid.direction)}">\n'
        f'    <Piece Extent="{extent}">\n'
        f'      <PointData Scalars="{name}">\n'
        f'        <DataArray type="{vtk_type}" Name="{name}" format="appended" '
        f'RangeMin="{scalar_range[0]!r}" RangeMax="{scalar_range[1]!r}" offset="0"/>\n'
        "      </PointData>\n"
        "      <CellData>\n"
        "      </CellData>\n"
        "    </Piece>\n"
        "  </ImageData>\n"
        '  <AppendedData encoding="raw">\n'
        "   _"
    ).encode("ascii")


_XML_TAIL = b"\n  </AppendedData>\n</VTKFile>\n"


def _deflate_stream(fh: IO[bytes], raw: memoryview, stream: Any) -> int:
    """The whole volume as one deflate stream, fed in ``_STREAM_STEP`` pieces; the bytes written."""
    written = 0
    for start in range(0, raw.nbytes, _STREAM_STEP):
        out = stream.compress(raw[start : start + _STREAM_STEP])
        written += len(out)
        fh.write(out)
    out = stream.flush()
    fh.write(out)
    return written + len(out)


def _deflate_blocks(
    fh: IO[bytes], raw: memoryview, blocks: _Blocks, compress: Callable[[memoryview], bytes], workers: int
) -> list[int]:
    """Blocks compressed in a thread pool and written in order, at most ``2 * workers`` in flight."""
    if not blocks.count:
        return []
    total, size = raw.nbytes, blocks.size

    def task(i: int) -> bytes:
        return compress(raw[i * size : min(total, (i + 1) * size)])

    sizes: list[int] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="vti-deflate") as pool:
        pending: list[Future[bytes]] = []
        next_block = 0
        window = 2 * workers
        while next_block < blocks.count or pending:
            while next_block < blocks.count and len(pending) < window:
                pending.append(pool.submit(task, next_block))
                next_block += 1
            chunk = pending.pop(0).result()
            sizes.append(len(chunk))
            fh.write(chunk)
    return sizes


class BackgroundWriter:
    """Run ``write_vti`` on a thread so meshing can proceed while the volume compresses."""

    def __init__(self, fn: Callable[[], dict[str, Any]]) -> None:
        self._result: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name="vti-writer", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], dict[str, Any]]) -> None:
        try:
            self._result = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller in result()
            self._error = exc

    def result(self) -> dict[str, Any]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def window_to_uint8(image: np.ndarray, *, center: float = 40.0, width: float = 400.0) -> np.ndarray:
    """Map HU to 0..255 with a display window (default: abdominal soft tissue, L40/W400)."""
    lo = center - width / 2.0
    scaled = (image.astype(np.float32) - lo) * (255.0 / width)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def write_preview(path: Path, array: np.ndarray, *, center: float = 40.0, width: float = 400.0) -> tuple[int, int]:
    """Save the middle slice (along the stored z axis) as a windowed greyscale PNG.

    For an identity-direction volume row 0 is the most anterior row and column 0 the patient's
    right, the radiological display convention. Returns (width, height).
    """
    from PIL import Image  # local import: Pillow is only needed here

    mid = array[array.shape[0] // 2]
    img = Image.fromarray(window_to_uint8(mid, center=center, width=width), mode="L")
    img.save(path, format="PNG", optimize=False, compress_level=6)
    return img.width, img.height


def volume_metadata(
    *,
    grid: ImageGrid,
    oblique: bool,
    scalar_range: tuple[float, float],
    dtype: np.dtype,
    modality: str,
    series_instance_uid: str,
    study_instance_uid: str | None,
    frame_of_reference_uid: str | None,
    slice_count: int,
    transfer_syntaxes: tuple[str, ...],
    slice_thickness: float | None,
) -> dict[str, Any]:
    """Technical metadata of the volume: geometry, values, UIDs. No patient attribute, ever."""
    from pydicom.uid import UID

    syntaxes = [str(ts) for ts in transfer_syntaxes]
    return {
        "dimensions": list(grid.dimensions),
        "spacing": [float(s) for s in grid.spacing],
        "origin": [float(o) for o in grid.origin],
        "direction": [float(d) for d in grid.direction],
        "direction_convention": "row-major 3x3, columns are the x/y/z index axes: "
        "world = origin + direction @ (index * spacing), LPS millimetres",
        # vtk.js takes the same nine numbers column by column (measured with vtk.js 37.4: a 30 degree
        # rotation put voxel (1, 0, 0) at y = -0.5 instead of +0.5). For oblique volumes the viewer
        # should call imageData.setDirection(direction_vtkjs) after loading; for axis-aligned ones
        # both are the identity.
        "direction_vtkjs": [float(d) for d in grid.direction_matrix.T.ravel()],
        "oblique": bool(oblique),
        "bounds": list(grid.bounds()),
        "scalar_range": [float(scalar_range[0]), float(scalar_range[1])],
        "scalars": SCALARS_NAME,
        "units": "HU",
        "modality": modality,
        "dtype": np.dtype(dtype).name,
        "series_instance_uid": series_instance_uid,
        "source_series_uids": [series_instance_uid],
        "study_instance_uid": study_instance_uid,
        "frame_of_reference_uid": frame_of_reference_uid,
        "slice_count": int(slice_count),
        "slice_thickness": slice_thickness,
        "transfer_syntax": syntaxes[0] if len(syntaxes) == 1 else syntaxes,
        "transfer_syntax_name": ", ".join(UID(ts).name for ts in syntaxes if ts),
        "coordinate_system": "LPS",
    }


# --------------------------------------------------------------------------------------- levels


def half_resolution_grid(grid: ImageGrid) -> ImageGrid:
    """The preview level's grid: every other voxel centre of ``grid`` (first one kept), spacing doubled.

    An axis of n voxels gets ceil(n / 2): its last coarse centre is the full level's last one (n odd)
    or one fine voxel, half a coarse voxel, before it (n even).
    """
    nx, ny, nz = grid.dimensions
    sx, sy, sz = grid.spacing
    return ImageGrid(
        dimensions=((nx + 1) // 2, (ny + 1) // 2, (nz + 1) // 2),
        spacing=(2.0 * sx, 2.0 * sy, 2.0 * sz),
        origin=grid.origin,
        direction=grid.direction,
    )


def _binomial_at_even(values: np.ndarray, axis: int, *, first: int, count: int, length: int) -> np.ndarray:
    """The [1/4, 1/2, 1/4] filter centred on fine indices 2c (c = first..first+count-1) along ``axis``.

    ``values`` holds the fine samples from index ``max(2 * first - 1, 0)`` on; indices past either end
    repeat the edge sample. Centred on the kept voxel, so the level has no half-voxel shift (a 2x2x2
    mean would move every value by a quarter of a coarse voxel) and no aliasing of plain striding.
    """
    base = max(2 * first - 1, 0)
    centre = 2 * np.arange(first, first + count)
    left = np.maximum(centre - 1, 0) - base
    right = np.minimum(centre + 1, length - 1) - base
    out = np.take(values, centre - base, axis=axis) * 0.5
    out += np.take(values, left, axis=axis) * 0.25
    out += np.take(values, right, axis=axis) * 0.25
    return out


def half_resolution(array: np.ndarray, grid: ImageGrid) -> tuple[np.ndarray, ImageGrid]:
    """The preview level of ``array`` (on ``grid``): half the resolution per axis, same world geometry.

    Filtered slab by slab (``_HALF_SLAB`` coarse slices), so the extra memory is a few fine slices of
    float32, never a float copy of the volume. Integer volumes are rounded and stay in their dtype.
    """
    if array.shape != grid.shape:
        raise ValueError(f"array shape {array.shape} does not match grid {grid.shape}")
    coarse_grid = half_resolution_grid(grid)
    nz, ny, nx = array.shape
    mz, my, mx = coarse_grid.shape
    out = np.empty((mz, my, mx), dtype=array.dtype)
    integer = np.issubdtype(array.dtype, np.integer)
    info = np.iinfo(array.dtype) if integer else None
    for first in range(0, mz, _HALF_SLAB):
        count = min(_HALF_SLAB, mz - first)
        lo, hi = max(2 * first - 1, 0), min(2 * (first + count - 1) + 1, nz - 1)
        slab = array[lo : hi + 1].astype(np.float32)
        slab = _binomial_at_even(slab, 0, first=first, count=count, length=nz)
        slab = _binomial_at_even(slab, 1, first=0, count=my, length=ny)
        slab = _binomial_at_even(slab, 2, first=0, count=mx, length=nx)
        if info is not None:
            np.rint(slab, out=slab)
            np.clip(slab, info.min, info.max, out=slab)
        out[first : first + count] = slab
    return out, coarse_grid


def level_metadata(*, name: str, grid: ImageGrid, file: str, file_bytes: int) -> dict[str, Any]:
    """One entry of a study's ``levels``: what a client needs to pick a level before fetching it."""
    return {
        "name": name,
        "file": file,
        "dimensions": list(grid.dimensions),
        "spacing": [float(s) for s in grid.spacing],
        "origin": [float(o) for o in grid.origin],
        "bounds": list(grid.bounds()),
        "bytes": int(file_bytes),
    }
