"""Meshes: closed, outward, the labelled volume, in the volume's world coordinates."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkFiltersCore import vtkFeatureEdges, vtkImplicitPolyDataDistance, vtkMassProperties
from vtkmodules.vtkIOXML import vtkXMLPolyDataReader

from imaging.conversion.geometry import Direction, ImageGrid
from imaging.conversion.meshes import MeshSettings, build_meshes, edge_defects, label_extents, signed_volume, slugify
from imaging.conversion.phantom import PhantomFiles
from imaging.conversion.pipeline import ConversionResult, convert


def read_vtp(path: Path) -> vtkPolyData:
    reader = vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()


def open_edges(poly: vtkPolyData) -> int:
    edges = vtkFeatureEdges()
    edges.SetInputData(poly)
    edges.BoundaryEdgesOn()
    edges.FeatureEdgesOff()
    edges.ManifoldEdgesOff()
    edges.NonManifoldEdgesOff()
    edges.Update()
    return edges.GetOutput().GetNumberOfCells()


def arrays(poly: vtkPolyData) -> tuple[np.ndarray, np.ndarray]:
    points = vtk_to_numpy(poly.GetPoints().GetData()).astype(np.float64)
    faces = vtk_to_numpy(poly.GetPolys().GetConnectivityArray()).reshape(-1, 3).astype(np.int64)
    return points, faces


@pytest.fixture(scope="module")
def phantom_result(small_phantom: PhantomFiles, tmp_path_factory: pytest.TempPathFactory) -> ConversionResult:
    return convert(
        inputs=[small_phantom.series_dir],
        work_dir=tmp_path_factory.mktemp("mesh-work"),
        segmentation=small_phantom.segmentation_path,
    )


def test_phantom_meshes_are_sound(phantom_result: ConversionResult) -> None:
    assert [s.name for s in phantom_result.structures] == [
        "liver",
        "tumour",
        "portal vein",
        "hepatic veins",
        "pancreas",
        "bile ducts",
    ]
    low = np.array(phantom_result.metadata["bounds"][0::2])
    high = np.array(phantom_result.metadata["bounds"][1::2])
    half_voxel = np.array(phantom_result.metadata["spacing"]) / 2
    for structure in phantom_result.structures:
        poly = read_vtp(structure.mesh_path)
        points, faces = arrays(poly)
        assert open_edges(poly) == 0, structure.name
        volume_mm3 = signed_volume(points, faces)
        assert volume_mm3 > 0, f"{structure.name} faces inward"
        mass = vtkMassProperties()
        mass.SetInputData(poly)
        mass.Update()
        assert mass.GetVolume() == pytest.approx(volume_mm3, rel=1e-3)
        labelled_ml = structure.metadata["volume_ml"]
        assert volume_mm3 / 1000 == pytest.approx(labelled_ml, rel=0.05), structure.name
        assert structure.metadata["voxel_count"] * np.prod(phantom_result.metadata["spacing"]) / 1000 == (
            pytest.approx(labelled_ml, rel=1e-4)
        )
        # Inside the volume: voxel centres' box grown by half a voxel (what the voxels cover).
        assert np.all(points.min(axis=0) >= low - half_voxel - 1e-6), structure.name
        assert np.all(points.max(axis=0) <= high + half_voxel + 1e-6), structure.name
        assert poly.GetPointData().GetNormals() is not None
        assert structure.metadata["point_count"] == poly.GetNumberOfPoints()
        assert structure.metadata["cell_count"] == poly.GetNumberOfCells()
        assert structure.metadata["bounds"] == pytest.approx(list(poly.GetBounds()), abs=1e-3)
        assert structure.mesh_path.name == f"{slugify(structure.name)}.vtp"
        assert structure.color_hex.startswith("#") and len(structure.color_hex) == 7


def _ball(grid_shape: tuple[int, int, int], center: tuple[float, float, float], radius: float) -> np.ndarray:
    z, y, x = np.ogrid[: grid_shape[0], : grid_shape[1], : grid_shape[2]]
    inside = (x - center[2]) ** 2 + (y - center[1]) ** 2 + (z - center[0]) ** 2 <= radius**2
    return inside.astype(np.uint8)


@pytest.mark.parametrize(
    "direction",
    [
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0),  # left-handed: must not turn the mesh inside out
        (math.cos(0.5), -math.sin(0.5), 0.0, math.sin(0.5), math.cos(0.5), 0.0, 0.0, 0.0, 1.0),  # oblique
    ],
)
def test_meshes_follow_the_grid_transform(tmp_path: Path, direction: Direction) -> None:
    grid = ImageGrid(dimensions=(30, 24, 20), spacing=(0.8, 0.9, 1.5), origin=(-12.0, 30.0, 100.0), direction=direction)
    labels = _ball(grid.shape, (9.0, 11.0, 14.0), 6.0)
    labels[labels == 0] = 0
    ((mesh,),) = (build_meshes(labels, grid, {1: "tumour"}, tmp_path),)
    poly = read_vtp(mesh.path)
    points, faces = arrays(poly)
    assert open_edges(poly) == 0
    assert signed_volume(points, faces) > 0
    assert mesh.metadata["faces_flipped"] is bool(np.linalg.det(grid.direction_matrix) < 0)
    voxel_centroid = np.argwhere(labels).mean(axis=0)[::-1]  # (x, y, z) index
    expected_world = grid.index_to_world(voxel_centroid)
    area_weighted = points[faces].mean(axis=1).mean(axis=0)
    np.testing.assert_allclose(area_weighted, expected_world, atol=0.3)
    assert mesh.metadata["mesh_volume_ml"] == pytest.approx(mesh.metadata["volume_ml"], rel=0.02)
    normals = vtk_to_numpy(poly.GetPointData().GetNormals())  # a ball: every normal points away
    assert np.all(np.einsum("ij,ij->i", normals, points - expected_world) > 0)


def test_thin_tube_keeps_its_volume(tmp_path: Path) -> None:
    """A duct two voxels across: marching cubes and smoothing shrink it; the mesh must not."""
    grid = ImageGrid(dimensions=(40, 12, 12), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[5:7, 5:7, 3:37] = 1
    (mesh,) = build_meshes(labels, grid, {1: "bile duct"}, tmp_path)
    assert mesh.metadata["mesh_volume_ml"] == pytest.approx(mesh.metadata["volume_ml"], rel=0.05)
    assert mesh.metadata["open_edges"] == 0


def test_large_structures_use_block_surfaces_faithfully(tmp_path: Path) -> None:
    grid = ImageGrid(dimensions=(41, 37, 30), spacing=(0.5, 0.5, 1.0), origin=(3.0, -4.0, 5.0))
    labels = _ball(grid.shape, (14.0, 18.0, 20.0), 12.0)  # odd crop sizes on purpose
    fine = build_meshes(
        labels, grid, {1: "liver"}, tmp_path / "fine", settings=MeshSettings(coarsen_above_voxels=None)
    )[0]
    block = build_meshes(
        labels, grid, {1: "liver"}, tmp_path / "block", settings=MeshSettings(coarsen_above_voxels=1000)
    )[0]
    assert fine.metadata["surface"] == "discrete-flying-edges"
    assert block.metadata["surface"] == "flying-edges-2x2-block"
    poly = read_vtp(block.path)
    assert open_edges(poly) == 0
    points, faces = arrays(poly)
    assert signed_volume(points, faces) / 1000 == pytest.approx(block.metadata["volume_ml"], rel=0.02)
    assert np.array(block.metadata["bounds"]) == pytest.approx(np.array(fine.metadata["bounds"]), abs=0.5)
    reference = vtkImplicitPolyDataDistance()
    reference.SetInput(read_vtp(fine.path))
    distances = np.abs([reference.EvaluateFunction(*p) for p in points])
    assert distances.mean() < 0.1 and distances.max() < 0.5  # mm, with 0.5 mm voxels


def test_label_touching_the_border_is_closed(tmp_path: Path) -> None:
    grid = ImageGrid(dimensions=(10, 10, 10), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[0:6, 0:10, 3:10] = 7  # touches five faces of the volume
    (mesh,) = build_meshes(labels, grid, {7: "liver"}, tmp_path)
    poly = read_vtp(mesh.path)
    assert open_edges(poly) == 0
    assert mesh.label == 7 and mesh.path.name == "liver.vtp"


def test_label_extents_and_edge_defects() -> None:
    labels = np.zeros((5, 4, 4), dtype=np.uint8)
    labels[1, 1, 1] = 3
    labels[3:5, 0, 0] = 9
    assert label_extents(labels) == {3: (1, 1, 1), 9: (3, 4, 2)}
    tetra = np.array([[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]])
    assert edge_defects(tetra) == (0, 0)
    assert edge_defects(tetra[:3]) == (3, 0)


def test_slugs_and_duplicate_names(tmp_path: Path) -> None:
    assert slugify("Hepatic veins (MHV)") == "hepatic-veins-mhv"
    assert slugify("Tumör #1") == "tumor-1"
    assert slugify("***") == "structure"
    grid = ImageGrid(dimensions=(8, 8, 8), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    labels = np.zeros(grid.shape, dtype=np.uint8)
    labels[1:3, 1:3, 1:3] = 1
    labels[5:7, 5:7, 5:7] = 2
    meshes = build_meshes(labels, grid, {1: "lesion", 2: "Lesion"}, tmp_path)
    assert sorted(m.path.name for m in meshes) == ["lesion-2.vtp", "lesion.vtp"]
    assert edge_defects(arrays(read_vtp(meshes[0].path))[1])[0] == 0
