"""Image grids in patient coordinates, and the layout that keeps vtk.js honest.

DICOM describes a slice stack by an origin, two in-plane direction cosines and the slice normal; VTK
stores an image as an x-fastest array with origin, spacing and a 3x3 direction matrix. vtk.js reads
that matrix transposed relative to VTK, which only matters when the matrix is not symmetric. So for
every scan whose axes are parallel to the patient axes (axial, coronal, sagittal, and their flipped
variants) we reorder and flip the *array* until the direction is the identity: world coordinates are
unchanged and every reader agrees. Only truly oblique scans keep a direction matrix, and the
metadata says so.

All coordinates are DICOM patient coordinates (LPS, millimetres).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Direction cosines closer than this to a patient axis are treated as that axis. 1e-4 is about
# 0.006 degrees: across a 500 mm field of view the snap moves a voxel by at most 0.05 mm.
AXIS_TOLERANCE = 1e-4


# A row-major 3x3 direction matrix, as VTK and ImageGrid keep it.
Direction = tuple[float, float, float, float, float, float, float, float, float]


def _three(values: Iterable[Any]) -> tuple[float, float, float]:
    x, y, z = (float(v) for v in values)
    return x, y, z


def _nine(values: Iterable[Any]) -> Direction:
    a, b, c, d, e, f, g, h, i = (float(v) for v in values)
    return a, b, c, d, e, f, g, h, i


@dataclass(frozen=True)
class ImageGrid:
    """A regular grid of voxel centres, laid out as VTK stores image data.

    ``dimensions`` is (nx, ny, nz); a numpy array on this grid has shape (nz, ny, nx) (C order,
    x fastest). ``direction`` is the row-major 3x3 matrix whose *columns* are the unit vectors of
    the x, y and z index axes, so ``world = origin + direction @ (index * spacing)``.
    """

    dimensions: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: Direction = (
        1.0,
        0.0,
        0.0,
        0.0,
        1.0,
        0.0,
        0.0,
        0.0,
        1.0,
    )

    @property
    def shape(self) -> tuple[int, int, int]:
        """The numpy shape (nz, ny, nx) of an array on this grid."""
        nx, ny, nz = self.dimensions
        return (nz, ny, nx)

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    @property
    def is_axis_aligned(self) -> bool:
        return bool(np.allclose(self.direction_matrix, np.eye(3), atol=0.0, rtol=0.0))

    @property
    def voxel_volume_mm3(self) -> float:
        sx, sy, sz = self.spacing
        return float(sx * sy * sz)

    def index_affine(self) -> np.ndarray:
        """4x4 matrix mapping (i, j, k, 1), x index first, to world (x, y, z, 1)."""
        affine = np.eye(4)
        affine[:3, :3] = self.direction_matrix * np.asarray(self.spacing)[None, :]
        affine[:3, 3] = self.origin
        return affine

    def array_affine(self) -> np.ndarray:
        """4x4 matrix mapping numpy indices (z, y, x, 1) of an array on this grid to world."""
        return self.index_affine()[:, [2, 1, 0, 3]]

    def index_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """World coordinates of (..., 3) continuous indices given x index first."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk @ self.index_affine()[:3, :3].T + np.asarray(self.origin)

    def corner_points(self) -> np.ndarray:
        """The 8 corner voxel centres in world coordinates."""
        nx, ny, nz = self.dimensions
        corners = np.array([[i, j, k] for k in (0, nz - 1) for j in (0, ny - 1) for i in (0, nx - 1)], dtype=np.float64)
        return self.index_to_world(corners)

    def bounds(self, *, half_voxel: bool = False) -> tuple[float, float, float, float, float, float]:
        """Axis-aligned world bounds (xmin, xmax, ymin, ymax, zmin, zmax) of the voxel centres.

        With ``half_voxel`` the box grows by half a voxel on each side: the extent the voxels
        themselves cover, which is where a surface around a label touching the border can reach.
        """
        nx, ny, nz = self.dimensions
        lo, hi = (-0.5, 0.5) if half_voxel else (0.0, 0.0)
        corners = np.array(
            [[i, j, k] for k in (lo, nz - 1 + hi) for j in (lo, ny - 1 + hi) for i in (lo, nx - 1 + hi)],
            dtype=np.float64,
        )
        return point_bounds(self.index_to_world(corners))


def point_bounds(points: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """VTK's bounds order (xmin, xmax, ymin, ymax, zmin, zmax) of an (n, 3) array of points."""
    mins, maxs = points.min(axis=0), points.max(axis=0)
    return (float(mins[0]), float(maxs[0]), float(mins[1]), float(maxs[1]), float(mins[2]), float(maxs[2]))


@dataclass(frozen=True)
class Layout:
    """Where each acquired voxel (slice k, row j, column i) goes in the stored array.

    ``acquisition_view(array)`` returns a numpy *view* of an array on ``grid`` indexed
    ``[k, j, i]`` in acquisition order, so readers can write each decoded slice straight into its
    final place: no second copy of the volume is ever made to reorder or flip it.
    """

    grid: ImageGrid
    axes: tuple[int, int, int]  # numpy axes of the stored array for acquisition axes (k, j, i)
    flips: tuple[bool, bool, bool]  # whether acquisition axes (k, j, i) run against the stored axes
    oblique: bool

    def acquisition_view(self, array: np.ndarray) -> np.ndarray:
        view = array.transpose(self.axes)
        index = tuple(slice(None, None, -1) if flip else slice(None) for flip in self.flips)
        return view[index]


def plan_layout(
    *,
    origin: np.ndarray,
    row_direction: np.ndarray,
    column_direction: np.ndarray,
    slice_direction: np.ndarray,
    spacing_ijk: tuple[float, float, float],
    counts_ijk: tuple[int, int, int],
    tolerance: float = AXIS_TOLERANCE,
) -> Layout:
    """Choose the stored layout for an acquired stack.

    ``row_direction`` is DICOM's first direction cosine (the direction in which the column index i
    grows), ``column_direction`` the second (row index j), ``slice_direction`` the direction in
    which the sorted slice index k grows. ``spacing_ijk``/``counts_ijk`` are given in (i, j, k).
    """
    dirs = [np.asarray(d, dtype=np.float64) for d in (row_direction, column_direction, slice_direction)]
    dirs = [d / np.linalg.norm(d) for d in dirs]
    origin = np.asarray(origin, dtype=np.float64)
    world_axis = [int(np.argmax(np.abs(d))) for d in dirs]
    aligned = len(set(world_axis)) == 3 and all(
        np.all(np.abs(np.delete(d, a)) <= tolerance) for d, a in zip(dirs, world_axis, strict=True)
    )
    if not aligned:
        matrix = np.stack(dirs, axis=1)  # columns: i, j, k directions
        grid = ImageGrid(
            dimensions=(int(counts_ijk[0]), int(counts_ijk[1]), int(counts_ijk[2])),
            spacing=_three(spacing_ijk),
            origin=_three(origin),
            direction=_nine(matrix.ravel()),
        )
        return Layout(grid=grid, axes=(0, 1, 2), flips=(False, False, False), oblique=True)

    signs = [float(np.sign(d[a])) for d, a in zip(dirs, world_axis, strict=True)]
    dims = [0, 0, 0]
    spacing = [0.0, 0.0, 0.0]
    new_origin = origin.copy()
    for acq in range(3):  # i, j, k
        axis = world_axis[acq]
        dims[axis] = int(counts_ijk[acq])
        spacing[axis] = float(spacing_ijk[acq])
        if signs[acq] < 0:
            # The acquisition runs towards -axis: the stored array starts at its far end.
            new_origin[axis] -= (counts_ijk[acq] - 1) * spacing_ijk[acq]
    # Snap: components below the tolerance are dropped, so the origin keeps only its own value.
    grid = ImageGrid(
        dimensions=(dims[0], dims[1], dims[2]),
        spacing=(spacing[0], spacing[1], spacing[2]),
        origin=(float(new_origin[0]), float(new_origin[1]), float(new_origin[2])),
    )
    # Stored numpy axis for world axis a is 2 - a; acquisition axes are given in (k, j, i) order.
    axes = (2 - world_axis[2], 2 - world_axis[1], 2 - world_axis[0])
    flips = (signs[2] < 0, signs[1] < 0, signs[0] < 0)
    return Layout(grid=grid, axes=axes, flips=flips, oblique=False)
