"""The written .vti: values, world coordinates of every voxel, orientation handling, preview."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imaging.conversion.geometry import ImageGrid
from imaging.conversion.phantom import PhantomFiles, write_ct_series
from imaging.conversion.pipeline import convert
from imaging.conversion.volume import window_to_uint8, write_vti
from tests.imaging.helpers import DICOMDIR_TESTS, acquisition_world, read_vti, unique_hu


@pytest.mark.parametrize("block_bytes", [None, 1000, 1 << 20])
def test_vti_round_trip(tmp_path: Path, block_bytes: int | None) -> None:
    array = np.random.default_rng(0).integers(-1024, 3000, size=(7, 9, 11)).astype(np.int16)
    grid = ImageGrid(dimensions=(11, 9, 7), spacing=(0.7, 0.8, 2.5), origin=(-10.0, 20.5, -30.25))
    report = write_vti(tmp_path / "v.vti", array, grid, block_bytes=block_bytes)
    assert report["blocks"] == (1 if block_bytes in (None, 1 << 20) else math.ceil(array.nbytes / 1000))
    image, values = read_vti(tmp_path / "v.vti")
    np.testing.assert_array_equal(values, array)
    assert image.GetOrigin() == pytest.approx(grid.origin)
    assert image.GetSpacing() == pytest.approx(grid.spacing)
    assert image.GetPointData().GetScalars().GetName() == "HU"
    assert 'compressor="vtkZLibDataCompressor"' in (tmp_path / "v.vti").read_bytes()[:400].decode()


def test_vti_float32_and_direction(tmp_path: Path) -> None:
    array = np.linspace(-5.5, 7.25, 60, dtype=np.float32).reshape(3, 4, 5)
    c, s = math.cos(0.3), math.sin(0.3)
    direction = (c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0)
    grid = ImageGrid(dimensions=(5, 4, 3), spacing=(1.0, 1.0, 2.0), origin=(1.0, 2.0, 3.0), direction=direction)
    write_vti(tmp_path / "f.vti", array, grid)
    image, values = read_vti(tmp_path / "f.vti")
    np.testing.assert_array_equal(values, array)
    matrix = image.GetDirectionMatrix()
    assert [matrix.GetElement(r, k) for r in range(3) for k in range(3)] == pytest.approx(direction)


ORIENTATIONS = {
    "axial": ((1, 0, 0), (0, 1, 0)),
    "axial-flipped": ((-1, 0, 0), (0, -1, 0)),
    "coronal": ((1, 0, 0), (0, 0, -1)),
    "sagittal": ((0, 1, 0), (0, 0, -1)),
    "oblique-30": (
        (math.cos(math.radians(30)), math.sin(math.radians(30)), 0),
        (-math.sin(math.radians(30)), math.cos(math.radians(30)), 0),
    ),
    "double-oblique": ((0.9363, 0.2896, -0.1987), (-0.2751, 0.9564, 0.0978)),
}


@pytest.mark.parametrize("name", sorted(ORIENTATIONS))
def test_every_voxel_lands_where_dicom_puts_it(tmp_path: Path, name: str) -> None:
    """Unique HU per voxel: find each stored voxel's acquisition index by its value and compare
    VTK's world position of the stored voxel with DICOM's position of the acquired pixel."""
    row, col = (np.asarray(v, float) / np.linalg.norm(v) for v in ORIENTATIONS[name])
    col = col - (col @ row) * row  # keep the direction cosines orthonormal
    col /= np.linalg.norm(col)
    shape = (5, 4, 3)  # slices, rows, columns
    hu = unique_hu(shape)
    origin, spacing, step = (12.5, -30.0, 44.0), (0.9, 0.6), 2.5
    write_ct_series(
        tmp_path / "in",
        hu,
        origin=origin,
        row_direction=row,
        column_direction=col,
        pixel_spacing=spacing,
        slice_step=step,
        file_order="shuffled",
    )
    result = convert(inputs=[tmp_path / "in"], work_dir=tmp_path / "work")
    image, values = read_vti(result.volume_path)
    aligned = not name.startswith(("oblique", "double"))
    assert result.metadata["oblique"] is (not aligned)
    if aligned:  # stored so that the direction is the identity: vtk.js reads it right
        assert result.metadata["direction"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    matrix = image.GetDirectionMatrix()
    assert [matrix.GetElement(r, k) for r in range(3) for k in range(3)] == pytest.approx(result.metadata["direction"])
    transposed = np.asarray(result.metadata["direction"]).reshape(3, 3).T.ravel()
    assert result.metadata["direction_vtkjs"] == pytest.approx(transposed.tolist())
    nz, ny, nx = values.shape
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                k, j, i = (int(v) for v in np.unravel_index(int(values[z, y, x]) + 1000, shape))
                expected = acquisition_world(origin, row, col, spacing, step, k, j, i)
                world = [0.0, 0.0, 0.0]
                image.TransformIndexToPhysicalPoint((x, y, z), world)
                np.testing.assert_allclose(world, expected, atol=1e-4)
    bounds = result.metadata["bounds"]
    corners = [
        acquisition_world(origin, row, col, spacing, step, k, j, i) for k in (0, 4) for j in (0, 3) for i in (0, 2)
    ]
    assert bounds == pytest.approx(
        [
            min(c[0] for c in corners),
            max(c[0] for c in corners),
            min(c[1] for c in corners),
            max(c[1] for c in corners),
            min(c[2] for c in corners),
            max(c[2] for c in corners),
        ],
        abs=1e-4,
    )


def test_preview_is_the_windowed_middle_slice(tmp_path: Path) -> None:
    hu = np.zeros((5, 8, 6), dtype=np.float32)
    hu[2] = np.linspace(-300, 300, 48).reshape(8, 6)
    write_ct_series(tmp_path / "in", hu, origin=(0, 0, 0), slice_step=1.0)
    result = convert(inputs=[tmp_path / "in"], work_dir=tmp_path / "work")
    assert result.preview_path is not None
    png = np.asarray(Image.open(result.preview_path))
    assert png.shape == (8, 6)
    np.testing.assert_array_equal(png, window_to_uint8(np.rint(hu[2]), center=40, width=400))
    assert result.metadata["preview"]["window_level"] == 40.0


PHI = {
    "PatientName": "Leaky^Larry^Quentin",
    "PatientID": "MRN-LEAK-4242",
    "PatientBirthDate": "19450704",
    "AccessionNumber": "ACC-LEAK-777",
    "InstitutionName": "Leakville General Hospital",
    "ReferringPhysicianName": "Drleak^Doctor",
    "StudyID": "STUDYLEAK9",
    "OtherPatientIDs": "OTHER-LEAK-1",
    "PatientAddress": "1 Leak Street",
    "StudyDate": "19990909",
    "AcquisitionDate": "19990909",
    "SeriesDescription": "LEAKY SERIES DESC",
}


def _all_output_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_no_patient_identifier_leaks(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    """Synthetic series full of identifying values, with a segmentation: none may reach the metadata,
    the output file names or the output files' bytes."""
    hu = np.zeros((4, 8, 8), dtype=np.float32)
    hu[1:3, 2:6, 2:6] = 60
    paths = write_ct_series(tmp_path / "in", hu, origin=(0, 0, 0), extra=PHI)
    import nibabel as nib

    labels = np.zeros((8, 8, 4), dtype=np.uint8)  # x, y, z
    labels[2:6, 2:6, 1:3] = 1
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])  # identity geometry in LPS, written in RAS
    nib.save(nib.Nifti1Image(labels, affine), tmp_path / "labels.nii.gz")
    result = convert(
        inputs=[tmp_path / "in"],
        work_dir=tmp_path / "work",
        segmentation=tmp_path / "labels.nii.gz",
        labels={1: "liver"},
    )
    assert paths and result.structures
    text = json.dumps(result.metadata) + json.dumps([s.metadata for s in result.structures])
    names = " ".join(str(p.relative_to(tmp_path / "work")) for p in (tmp_path / "work").rglob("*"))
    blob = _all_output_bytes(tmp_path / "work")
    for keyword, value in PHI.items():
        for needle in {value, value.replace("^", " ")}:
            assert needle not in text, keyword
            assert needle not in names, keyword
            assert needle.encode() not in blob, keyword
    assert sorted(p.name for p in (tmp_path / "work" / "output").rglob("*") if p.is_file()) == [
        "liver.vtp",
        "preview.png",
        "volume-preview.vti",
        "volume.vti",
    ]
    assert result.acquired_at is not None and result.acquired_at.year == 1999  # kept out of metadata


def test_real_series_metadata_has_no_patient_values(tmp_path: Path) -> None:
    """CT5N carries PatientName Doe^Peter and PatientID 98890234."""
    result = convert(inputs=[DICOMDIR_TESTS / "98892001" / "CT5N"], work_dir=tmp_path / "work")
    text = json.dumps(result.metadata)
    for needle in ("Doe^Peter", "Doe", "98890234", "SmartScore", "20010101"):
        assert needle not in text
    meta = result.metadata
    assert meta["units"] == "HU" and meta["modality"] == "CT" and meta["dtype"] == "int16"
    assert meta["dimensions"] == [16, 16, 5] and meta["slice_count"] == 5
    assert meta["spacing"] == pytest.approx([0.488281, 0.488281, 2.5])
    assert meta["series_instance_uid"] == "1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.6"
    assert meta["frame_of_reference_uid"] == "1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.4"
    assert meta["transfer_syntax"] == "1.2.840.10008.1.2.1"
    assert result.structures == []
