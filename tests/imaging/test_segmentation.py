"""Segmentations onto the CT grid: DICOM SEG and NIfTI, resampling, and the refusals."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from imaging.conversion.dicom import choose_series, plan_series, scan_files
from imaging.conversion.errors import IngestError
from imaging.conversion.geometry import ImageGrid
from imaging.conversion.phantom import PhantomFiles, build_phantom, write_ct_series, write_dicom_seg, write_nifti_labels
from imaging.conversion.segmentation import load_segmentation


def _grid_of(series_dir: Path) -> tuple[ImageGrid, str]:
    series, _ = choose_series(scan_files(sorted(series_dir.iterdir())))
    plan = plan_series(series, min_slices=3, max_tilt_fraction=0.25, max_volume_bytes=2**31)
    return plan.layout.grid, series.frame_of_reference_uid or ""


def test_dicom_seg_matches_the_phantom_labels(small_phantom: PhantomFiles) -> None:
    grid, for_uid = _grid_of(small_phantom.series_dir)
    label_map = load_segmentation(small_phantom.segmentation_path, grid=grid, frame_of_reference_uid=for_uid)
    _, expected, _, _ = build_phantom("small")
    np.testing.assert_array_equal(label_map.array, expected)
    assert label_map.names == small_phantom.labels
    assert label_map.metadata["format"] == "dicom-seg"
    assert label_map.metadata["frames_placed_directly"] is True


def test_nifti_matches_the_phantom_labels(small_phantom_nifti: PhantomFiles) -> None:
    grid, _ = _grid_of(small_phantom_nifti.series_dir)
    label_map = load_segmentation(small_phantom_nifti.segmentation_path, grid=grid, frame_of_reference_uid=None)
    _, expected, _, _ = build_phantom("small")
    np.testing.assert_array_equal(label_map.array, expected)
    assert label_map.names == small_phantom_nifti.labels  # from the .labels.json sidecar
    assert label_map.metadata["resampled"] is False


def test_labels_argument_overrides_names(small_phantom: PhantomFiles) -> None:
    grid, for_uid = _grid_of(small_phantom.series_dir)
    label_map = load_segmentation(
        small_phantom.segmentation_path, grid=grid, frame_of_reference_uid=for_uid, labels={2: "HCC lesion"}
    )
    assert label_map.names[2] == "HCC lesion" and label_map.names[1] == "liver"


def _box_labels(shape_zyx: tuple[int, int, int]) -> np.ndarray:
    labels = np.zeros(shape_zyx, dtype=np.uint8)
    nz, ny, nx = shape_zyx
    labels[nz // 4 : 3 * nz // 4, ny // 4 : 3 * ny // 4, nx // 4 : nx // 2] = 1
    labels[nz // 3 : 2 * nz // 3, ny // 3 : 2 * ny // 3, nx // 2 + 1 : 3 * nx // 4] = 2
    return labels


def test_nifti_on_a_coarser_grid_is_resampled(tmp_path: Path) -> None:
    grid = ImageGrid(dimensions=(40, 30, 20), spacing=(1.0, 1.0, 2.0), origin=(-20.0, -15.0, -20.0))
    coarse = _box_labels((10, 15, 20))  # twice the spacing on every axis, same extent
    write_nifti_labels(
        tmp_path / "coarse.nii.gz",
        coarse,
        origin=(-19.5, -14.5, -19.0),
        spacing=(2.0, 2.0, 4.0),
        names={1: "liver", 2: "tumour"},
    )
    label_map = load_segmentation(tmp_path / "coarse.nii.gz", grid=grid, frame_of_reference_uid=None)
    assert label_map.metadata["resampled"] is True
    for value in (1, 2):
        before = (coarse == value).sum() * 16.0
        after = (label_map.array == value).sum() * grid.voxel_volume_mm3
        assert after == pytest.approx(before, rel=0.02)


def test_nifti_in_another_orientation_is_resampled_exactly(tmp_path: Path) -> None:
    grid = ImageGrid(dimensions=(12, 10, 8), spacing=(1.0, 1.5, 2.0), origin=(5.0, -7.0, 11.0))
    labels = _box_labels(grid.shape)
    # Same grid, stored with flipped x and swapped axes order in the file: (y, x, z) with x reversed.
    data = labels.transpose(1, 2, 0)[:, ::-1, :]  # (y, x reversed, z)
    ox, oy, oz = grid.origin
    x_last = ox + 11 * 1.0
    lps_affine = np.array([[0.0, -1.0, 0.0, x_last], [1.5, 0.0, 0.0, oy], [0.0, 0.0, 2.0, oz], [0, 0, 0, 1]])
    ras_affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps_affine
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), ras_affine), tmp_path / "odd.nii")
    label_map = load_segmentation(tmp_path / "odd.nii", grid=grid, frame_of_reference_uid=None, labels={1: "a"})
    np.testing.assert_array_equal(label_map.array, labels)
    assert label_map.names == {1: "a", 2: "label 2"}
    assert label_map.metadata["labels_without_name"] == [2]


def test_dicom_seg_on_another_grid_is_resampled(tmp_path: Path) -> None:
    """A SEG drawn on a thick-slice reconstruction (same frame of reference) of the target CT."""
    shape_fine = (12, 16, 16)
    hu = np.zeros(shape_fine, dtype=np.float32)
    write_ct_series(
        tmp_path / "fine",
        hu,
        origin=(0.0, 0.0, 0.0),
        pixel_spacing=(1.0, 1.0),
        slice_step=1.0,
        uid_key="fine",
        frame_of_reference_uid="1.2.826.0.1.3680043.10.1.77",
    )
    thick = write_ct_series(
        tmp_path / "thick",
        np.zeros((6, 16, 16), dtype=np.float32),
        origin=(0.0, 0.0, 0.5),
        pixel_spacing=(1.0, 1.0),
        slice_step=2.0,
        uid_key="thick",
        frame_of_reference_uid="1.2.826.0.1.3680043.10.1.77",
    )
    coarse = np.zeros((6, 16, 16), dtype=np.uint8)
    coarse[1:5, 4:12, 3:9] = 1
    write_dicom_seg(tmp_path / "seg.dcm", thick, coarse, {1: "liver"}, uid_key="thickseg")
    grid, for_uid = _grid_of(tmp_path / "fine")
    label_map = load_segmentation(tmp_path / "seg.dcm", grid=grid, frame_of_reference_uid=for_uid)
    assert label_map.metadata["resampled"] is True
    assert (label_map.array == 1).sum() == pytest.approx((coarse == 1).sum() * 2, rel=0.05)
    assert label_map.array[4, 8, 5] == 1 and label_map.array[4, 8, 12] == 0


def test_frame_of_reference_mismatch_is_refused(small_phantom: PhantomFiles) -> None:
    grid, _ = _grid_of(small_phantom.series_dir)
    with pytest.raises(IngestError) as err:
        load_segmentation(small_phantom.segmentation_path, grid=grid, frame_of_reference_uid="1.2.3.4.5")
    assert err.value.code == "frame_of_reference_mismatch"
    assert small_phantom.frame_of_reference_uid in err.value.message and "1.2.3.4.5" in err.value.message


def test_nifti_outside_the_volume_is_refused(tmp_path: Path) -> None:
    grid = ImageGrid(dimensions=(12, 10, 8), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    labels = _box_labels(grid.shape)
    write_nifti_labels(
        tmp_path / "far.nii.gz", labels, origin=(500.0, 0.0, 0.0), spacing=(1.0, 1.0, 1.0), names={1: "liver"}
    )
    with pytest.raises(IngestError) as err:
        load_segmentation(tmp_path / "far.nii.gz", grid=grid, frame_of_reference_uid=None)
    assert err.value.code == "segmentation_outside_volume"
    write_nifti_labels(
        tmp_path / "half.nii.gz", labels, origin=(6.0, 0.0, 0.0), spacing=(1.0, 1.0, 1.0), names={1: "liver"}
    )
    with pytest.raises(IngestError) as err:
        load_segmentation(tmp_path / "half.nii.gz", grid=grid, frame_of_reference_uid=None)
    assert err.value.code == "segmentation_outside_volume"
    assert "outside the CT volume" in err.value.message and "Label" in err.value.message


def test_probability_map_is_refused(tmp_path: Path) -> None:
    grid = ImageGrid(dimensions=(4, 4, 4), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    data = np.full((4, 4, 4), 0.5, dtype=np.float32)
    nib.save(nib.Nifti1Image(data, np.diag([-1.0, -1.0, 1.0, 1.0])), tmp_path / "p.nii.gz")
    with pytest.raises(IngestError) as err:
        load_segmentation(tmp_path / "p.nii.gz", grid=grid, frame_of_reference_uid=None)
    assert err.value.code == "segmentation_not_labels"


def test_empty_segmentation_is_refused(tmp_path: Path) -> None:
    grid = ImageGrid(dimensions=(4, 4, 4), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    write_nifti_labels(
        tmp_path / "e.nii.gz", np.zeros((4, 4, 4), np.uint8), origin=(0, 0, 0), spacing=(1, 1, 1), names={}
    )
    with pytest.raises(IngestError) as err:
        load_segmentation(tmp_path / "e.nii.gz", grid=grid, frame_of_reference_uid=None)
    assert err.value.code == "segmentation_empty"


@pytest.mark.parametrize(
    ("name", "payload", "code"),
    [
        ("broken.nii.gz", b"\x1f\x8b" + b"garbage" * 20, "segmentation_unreadable"),
        ("labels.nrrd", b"NRRD0004\n", "segmentation_unsupported"),
        ("seg.dcm", b"\0" * 128 + b"DICM" + b"\x02\x00" * 10, "segmentation_unsupported"),
    ],
)
def test_bad_segmentation_bytes(tmp_path: Path, name: str, payload: bytes, code: str) -> None:
    grid = ImageGrid(dimensions=(4, 4, 4), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    (tmp_path / name).write_bytes(payload)
    with pytest.raises(IngestError) as err:
        load_segmentation(tmp_path / name, grid=grid, frame_of_reference_uid=None)
    assert err.value.code == code


def test_pydicom_complaints_about_a_damaged_header_are_logged_not_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The library reads untrusted headers on purpose (imaging.conversion.pydicom_warnings): pydicom's
    complaints stay on its logger, and no UserWarning escapes even where warnings are errors."""
    grid = ImageGrid(dimensions=(4, 4, 4), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    (tmp_path / "seg.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00" * 10)
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="pydicom"):
        warnings.simplefilter("error")
        with pytest.raises(IngestError) as err:
            load_segmentation(tmp_path / "seg.dcm", grid=grid, frame_of_reference_uid=None)
    assert err.value.code == "segmentation_unsupported"
    assert [r for r in caplog.records if r.name == "pydicom" and r.levelno == logging.WARNING]
    # Outside the library's reads, pydicom's warnings are untouched.
    with pytest.warns(UserWarning, match="VR"):
        pydicom.dcmread(tmp_path / "seg.dcm", stop_before_pixels=True)


def test_truncated_dicom_seg(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    grid, for_uid = _grid_of(small_phantom.series_dir)
    data = small_phantom.segmentation_path.read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 500])
    with pytest.raises(IngestError) as err:
        load_segmentation(tmp_path / "cut.dcm", grid=grid, frame_of_reference_uid=for_uid)
    assert err.value.code == "segmentation_unreadable"


def test_a_ct_image_is_not_a_segmentation(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    grid, for_uid = _grid_of(small_phantom.series_dir)
    ct_file = sorted(small_phantom.series_dir.iterdir())[0]
    with pytest.raises(IngestError) as err:
        load_segmentation(ct_file, grid=grid, frame_of_reference_uid=for_uid)
    assert err.value.code == "segmentation_unsupported"
    assert "CT Image Storage" in err.value.message


def test_sidecar_json_names(tmp_path: Path) -> None:
    grid = ImageGrid(dimensions=(12, 10, 8), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    write_nifti_labels(
        tmp_path / "seg.nii.gz",
        _box_labels(grid.shape),
        origin=(0, 0, 0),
        spacing=(1, 1, 1),
        names={1: "portal vein", 2: "tumor"},
    )
    assert json.loads((tmp_path / "seg.labels.json").read_text()) == {"1": "portal vein", "2": "tumor"}
    label_map = load_segmentation(tmp_path / "seg.nii.gz", grid=grid, frame_of_reference_uid=None)
    assert label_map.names == {1: "portal vein", 2: "tumor"}
