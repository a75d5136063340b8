"""The fast-first-view levels: the half-resolution volume and the light mesh, against their full levels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkIOXML import vtkXMLImageDataReader, vtkXMLPolyDataReader

from imaging.conversion.geometry import ImageGrid
from imaging.conversion.meshes import MeshSettings, edge_defects, label_extents, mesh_label, signed_volume
from imaging.conversion.phantom import PhantomFiles
from imaging.conversion.pipeline import convert
from imaging.conversion.volume import half_resolution, half_resolution_grid, level_metadata, write_vti

ROTATED = ImageGrid(
    dimensions=(9, 8, 7),
    spacing=(0.8, 0.7, 1.5),
    origin=(-120.0, 35.5, 410.0),
    # 30 degrees about z: a direction matrix that is not symmetric (vtk.js reads it transposed).
    direction=(0.8660254, -0.5, 0.0, 0.5, 0.8660254, 0.0, 0.0, 0.0, 1.0),
)
AXIAL = ImageGrid(dimensions=(512, 512, 300), spacing=(0.78, 0.78, 1.0), origin=(-200.0, -180.0, -150.0))


def _corner_indices(grid: ImageGrid) -> np.ndarray:
    nx, ny, nz = grid.dimensions
    return np.array([[i, j, k] for k in (0, nz - 1) for j in (0, ny - 1) for i in (0, nx - 1)], dtype=np.float64)


@pytest.mark.parametrize("grid", [AXIAL, ROTATED], ids=["axial-512x512x300", "rotated-odd-and-even"])
def test_the_preview_grid_keeps_the_world_geometry(grid: ImageGrid) -> None:
    coarse = half_resolution_grid(grid)

    assert coarse.dimensions == tuple((n + 1) // 2 for n in grid.dimensions)
    assert coarse.spacing == tuple(2 * s for s in grid.spacing)
    assert coarse.direction == grid.direction
    # Every coarse corner voxel sits exactly on the full level's voxel 2 * index (first voxel centre kept).
    coarse_corners = coarse.index_to_world(_corner_indices(coarse))
    fine_corners = grid.index_to_world(2 * _corner_indices(coarse))
    np.testing.assert_allclose(coarse_corners, fine_corners, atol=1e-9)
    np.testing.assert_allclose(coarse_corners[0], grid.corner_points()[0], atol=1e-9)
    # Bounds agree to within half a coarse voxel (exactly on odd axes).
    half_coarse_voxel = float(np.linalg.norm(coarse.spacing)) / 2
    assert np.max(np.abs(np.subtract(coarse.bounds(), grid.bounds()))) <= half_coarse_voxel + 1e-9


def test_the_preview_values_are_centred_on_the_kept_voxels() -> None:
    grid = ImageGrid(dimensions=(10, 9, 7), spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0))
    z, y, x = np.meshgrid(np.arange(7), np.arange(9), np.arange(10), indexing="ij")
    ramp = (3 * x + 5 * y - 7 * z + 100).astype(np.int16)  # linear: a centred filter keeps it inside

    coarse, coarse_grid = half_resolution(ramp, grid)

    assert coarse.dtype == np.int16 and coarse.shape == coarse_grid.shape == (4, 5, 5)
    inner = coarse[1:-1, 1:-1, 1:-1]
    cz, cy, cx = np.meshgrid(np.arange(1, 3), np.arange(1, 4), np.arange(1, 4), indexing="ij")
    np.testing.assert_array_equal(inner, 3 * 2 * cx + 5 * 2 * cy - 7 * 2 * cz + 100)
    flat, _ = half_resolution(np.full(grid.shape, -1024, dtype=np.int16), grid)
    assert np.all(flat == -1024)  # edges repeat: no dark rim


def test_the_preview_is_filtered_slab_by_slab_like_at_once() -> None:
    rng = np.random.default_rng(7)
    grid = ImageGrid(dimensions=(17, 13, 41), spacing=(0.7, 0.7, 1.25), origin=(1.0, 2.0, 3.0))
    volume = rng.integers(-1024, 2000, size=grid.shape).astype(np.int16)

    coarse, _ = half_resolution(volume, grid)

    # The same filter written out along each axis on the whole volume at once.
    expected = volume.astype(np.float64)
    for axis in range(3):
        n = expected.shape[axis]
        centre = 2 * np.arange((n + 1) // 2)
        expected = (
            0.5 * np.take(expected, centre, axis=axis)
            + 0.25 * np.take(expected, np.maximum(centre - 1, 0), axis=axis)
            + 0.25 * np.take(expected, np.minimum(centre + 1, n - 1), axis=axis)
        )
    np.testing.assert_allclose(coarse, np.rint(expected), atol=1)


def test_the_written_preview_reads_back_on_its_grid(tmp_path: Path) -> None:
    volume = np.arange(np.prod(ROTATED.shape), dtype=np.int16).reshape(ROTATED.shape)
    coarse, grid = half_resolution(volume, ROTATED)
    path = tmp_path / "volume-preview.vti"

    write_vti(path, coarse, grid)

    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    assert image.GetDimensions() == grid.dimensions
    np.testing.assert_allclose(image.GetSpacing(), grid.spacing)
    np.testing.assert_allclose(image.GetOrigin(), ROTATED.origin)
    np.testing.assert_array_equal(vtk_to_numpy(image.GetPointData().GetScalars()).reshape(grid.shape), coarse)
    entry = level_metadata(name="preview", grid=grid, file=path.name, file_bytes=path.stat().st_size)
    assert entry["dimensions"] == [5, 4, 4] and entry["bytes"] == path.stat().st_size > 0


def _ball(radius: float, size: int) -> np.ndarray:
    z, y, x = np.ogrid[:size, :size, :size]
    c = (size - 1) / 2
    return (((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) <= radius**2).astype(np.uint8)


def _read_polydata(path: Path) -> vtkPolyData:
    reader = vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()


def test_a_mesh_over_the_threshold_gets_a_closed_light_level_of_the_same_volume(tmp_path: Path) -> None:
    labels = _ball(14, 34)
    grid = ImageGrid(dimensions=(34, 34, 34), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    (z0, z1, count) = label_extents(labels)[1]
    settings = MeshSettings(
        keep_fraction=1.0, max_cells=1_000_000, workers=1, light_above_cells=2_000, light_cells=1_000
    )

    mesh = mesh_label(
        labels, grid, 1, "ball", tmp_path / "ball.vtp", z_range=(z0, z1), voxel_count=count, settings=settings
    )

    assert mesh.light_path == tmp_path / "ball.light.vtp"
    full, light = _read_polydata(mesh.path), _read_polydata(mesh.light_path)
    assert full.GetNumberOfCells() > 2_000 >= 1_000 >= light.GetNumberOfCells() * 0.9
    points = vtk_to_numpy(light.GetPoints().GetData()).astype(np.float64)
    faces = vtk_to_numpy(light.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    assert edge_defects(faces)[0] == 0
    assert signed_volume(points, faces) == pytest.approx(count * grid.voxel_volume_mm3, rel=0.02)
    assert [level["name"] for level in mesh.metadata["levels"]] == ["full", "light"]
    assert mesh.metadata["levels"][1]["cell_count"] == light.GetNumberOfCells()
    assert mesh.metadata["levels"][1]["bytes"] == mesh.light_path.stat().st_size


def test_a_mesh_under_the_threshold_has_only_its_full_level(tmp_path: Path) -> None:
    labels = _ball(6, 16)
    grid = ImageGrid(dimensions=(16, 16, 16), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    (z0, z1, count) = label_extents(labels)[1]

    mesh = mesh_label(labels, grid, 1, "ball", tmp_path / "ball.vtp", z_range=(z0, z1), voxel_count=count)

    assert mesh.light_path is None
    assert not (tmp_path / "ball.light.vtp").exists()
    assert [level["name"] for level in mesh.metadata["levels"]] == ["full"]


def test_convert_writes_and_lists_both_levels_of_the_volume(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    result = convert(inputs=[small_phantom.series_dir], work_dir=tmp_path, segmentation=small_phantom.segmentation_path)

    assert result.volume_levels == {
        "full": tmp_path / "output" / "volume.vti",
        "preview": tmp_path / "output" / "volume-preview.vti",
    }
    levels = {level["name"]: level for level in result.metadata["levels"]}
    assert levels["full"]["dimensions"] == result.metadata["dimensions"] == [96, 96, 48]
    assert levels["preview"]["dimensions"] == [48, 48, 24]
    assert levels["preview"]["spacing"] == [2 * s for s in result.metadata["spacing"]]
    assert levels["preview"]["origin"] == result.metadata["origin"]
    for name, path in result.volume_levels.items():
        assert levels[name]["file"] == path.name and levels[name]["bytes"] == path.stat().st_size
    assert levels["preview"]["bytes"] < levels["full"]["bytes"] / 4
    # Meshes list their levels too; the phantom's are all under the light threshold.
    assert all([lv["name"] for lv in s.metadata["levels"]] == ["full"] for s in result.structures)
