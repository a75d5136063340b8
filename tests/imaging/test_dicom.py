"""Series discovery, validation, sorting and pixel reading: real files and synthetic geometry."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from imaging.conversion.dicom import SeriesInfo, SeriesPlan, choose_series, plan_series, read_volume, scan_files
from imaging.conversion.errors import IngestError
from imaging.conversion.phantom import write_ct_series, write_enhanced_ct
from tests.imaging.helpers import DICOMDIR_TESTS, unique_hu
from tests.imaging.jpeg_lossless import encode_jpeg_lossless

LIMITS = {"min_slices": 3, "max_tilt_fraction": 0.25, "max_volume_bytes": 2 * 1024**3}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def plan_with_limits(series: SeriesInfo, **limits: float) -> SeriesPlan:
    """``plan_series`` with the default LIMITS, overridden by ``limits``."""
    merged = {**LIMITS, **limits}
    return plan_series(
        series,
        min_slices=int(merged["min_slices"]),
        max_tilt_fraction=merged["max_tilt_fraction"],
        max_volume_bytes=int(merged["max_volume_bytes"]),
    )


def load(paths: list[Path] | Path, **limits: float) -> tuple:
    """Scan, choose, plan and read; returns (plan, volume)."""
    files = _files(paths) if isinstance(paths, Path) else paths
    series, _ = choose_series(scan_files(files))
    series_plan = plan_with_limits(series, **limits)
    return series_plan, read_volume(series_plan, max_volume_bytes=int({**LIMITS, **limits}["max_volume_bytes"]))


def refusal(paths: list[Path] | Path, **limits: float) -> IngestError:
    with pytest.raises(IngestError) as err:
        load(paths, **limits)
    return err.value


# --------------------------------------------------------------------------------------- real files


def test_real_ct_series_reads_voxel_exact() -> None:
    """CT5N: five real GE slices, files in descending z, signed pixels with intercept -1024."""
    folder = DICOMDIR_TESTS / "98892001" / "CT5N"
    plan, volume = load(folder)
    assert volume.array.dtype == np.int16
    assert volume.array.shape == (5, 16, 16)
    assert plan.slice_step == pytest.approx(2.5)
    assert plan.layout.grid.origin == pytest.approx((-72.199997, -143.0, -1.2375))  # the lowest slice
    for path in _files(folder):
        ds = pydicom.dcmread(path)
        z = round((float(ds.ImagePositionPatient[2]) - plan.layout.grid.origin[2]) / 2.5)
        expected = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        np.testing.assert_array_equal(volume.array[z], expected)
    assert volume.scalar_range == (float(volume.array.min()), float(volume.array.max()))


def test_real_series_with_missing_slices_is_refused() -> None:
    """77654033/CT2: four real slices, 161 missing between the first and the second."""
    err = refusal(DICOMDIR_TESTS / "77654033" / "CT2")
    assert err.code == "slice_gap"
    assert "gap between slice 1 and 2 (202.5 mm where 1.25 mm is expected): 161 slices missing" in err.message
    assert "1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.2" in err.message


def test_real_localizers_are_not_a_volume() -> None:
    err = refusal(DICOMDIR_TESTS / "98892001" / "CT2N")
    assert err.code == "no_image_series"
    assert "CT localizer images: 2" in err.message


def test_real_single_slice_is_too_few(pydicom_files: Path) -> None:
    err = refusal([pydicom_files / "CT_small.dcm"])
    assert err.code == "too_few_slices"
    assert "only 1 image" in err.message


def test_real_mixed_folder_picks_ct_and_lists_the_rest() -> None:
    files = [p for p in _files(DICOMDIR_TESTS) if "TINY_ALPHA" not in p.parts]
    scan = scan_files(files)
    series, ignored = choose_series(scan)
    assert series.uid == "1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.6"  # CT5N, the longest valid one
    kinds = {i.get("kind") or i.get("modality") for i in ignored}
    assert {"CT", "CT localizer images", "MR images (MR Image Storage)"} <= kinds
    assert scan.others["DICOMDIR"] >= 1
    assert scan.others["non-DICOM files (.txt)"] == 1  # the README is ignored, not fatal


def test_ct_objects_without_image_data_are_damaged() -> None:
    """TINY_ALPHA: 50 CT Image Storage stubs without Rows/Columns/pixels (and a DICOMDIR)."""
    err = refusal(DICOMDIR_TESTS / "TINY_ALPHA")
    assert err.code == "damaged_file"
    assert "50 file(s) look like DICOM but cannot be read" in err.message
    assert "truncated or incomplete" in err.message


# --------------------------------------------------------------------------------------- synthetic


def _series(tmp_path: Path, shape: tuple[int, int, int] = (6, 5, 4), **kwargs: Any) -> list[Path]:
    hu = kwargs.pop("hu", None)
    if hu is None:
        hu = unique_hu(shape)
    return write_ct_series(
        tmp_path / "series",
        hu,
        **{"origin": (10.0, -20.0, 30.0), "pixel_spacing": (0.8, 0.7), "slice_step": 2.0, **kwargs},
    )


def test_a_damaged_header_in_the_upload_is_set_aside_without_a_warning(tmp_path: Path) -> None:
    """pydicom complains about the header (on its logger) and the scan sets the file aside: no UserWarning
    escapes the scan even where warnings are errors (imaging.conversion.pydicom_warnings)."""
    paths = _series(tmp_path, shape=(4, 4, 4))
    junk = tmp_path / "series" / "junk.dcm"
    junk.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00" * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scan = scan_files([*paths, junk])
    assert len(scan.series) == 1
    assert len(next(iter(scan.series.values())).frames) == 4
    assert sum(scan.others.values()) == 1 and not scan.damaged


def test_sorting_ignores_file_names_and_instance_numbers(tmp_path: Path) -> None:
    hu = unique_hu((7, 5, 4))
    paths = _series(tmp_path, hu=hu, file_order="shuffled")
    plan, volume = load(tmp_path / "series")
    np.testing.assert_array_equal(volume.array, hu.astype(np.int16))
    assert plan.slice_step == pytest.approx(2.0)
    assert len(paths) == 7


def test_slice_step_comes_from_positions_not_thickness(tmp_path: Path) -> None:
    _series(tmp_path, slice_step=3.0, extra={"SliceThickness": "5.0"})  # overlapping reconstruction
    plan, _ = load(tmp_path / "series")
    assert plan.layout.grid.spacing == pytest.approx((0.7, 0.8, 3.0))


def test_gap_reports_where_and_how_many(tmp_path: Path) -> None:
    paths = _series(tmp_path, shape=(10, 4, 4))
    paths[4].unlink()
    paths[5].unlink()
    err = refusal(tmp_path / "series")
    assert err.code == "slice_gap"
    assert "gap between slice 4 and 5 (6 mm where 2 mm is expected): 2 slices missing" in err.message


def test_two_phases_in_one_series(tmp_path: Path) -> None:
    _series(tmp_path, shape=(4, 4, 4))
    second = write_ct_series(
        tmp_path / "phase2",
        unique_hu((4, 4, 4), start=0),
        origin=(10.0, -20.0, 30.0),
        pixel_spacing=(0.8, 0.7),
        slice_step=2.0,
        extra={"AcquisitionNumber": 2},
    )
    for k, path in enumerate(second):
        shutil.copy(path, tmp_path / "series" / f"P2_{k}.dcm")
        ds = pydicom.dcmread(tmp_path / "series" / f"P2_{k}.dcm")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(tmp_path / "series" / f"P2_{k}.dcm")
    err = refusal(tmp_path / "series")
    assert err.code == "duplicate_position"
    assert "4 pair(s) of images at the same position" in err.message
    assert "acquisition numbers 1 and 2" in err.message


def test_gantry_tilt_beyond_tolerance(tmp_path: Path) -> None:
    # 2 degrees of tilt: each slice shifts 2 mm * tan(2 deg) = 0.07 mm along y, 0.35 mm in all.
    shift = 2.0 * np.tan(np.radians(2.0))
    positions = [(10.0, -20.0 + k * shift, 30.0 + 2.0 * k) for k in range(6)]
    _series(tmp_path, positions=positions)
    err = refusal(tmp_path / "series")
    assert err.code == "gantry_tilt"
    assert "2.00 degrees" in err.message and "0.25 voxel" in err.message


def test_tilt_within_tolerance_is_accepted(tmp_path: Path) -> None:
    positions = [(10.0 + k * 0.02, -20.0, 30.0 + 2.0 * k) for k in range(6)]  # 0.1 mm = 0.14 voxel
    _series(tmp_path, positions=positions)
    plan, _ = load(tmp_path / "series")
    assert plan.layout.grid.origin == pytest.approx((10.0, -20.0, 30.0))


def test_mixed_orientations_without_a_dominant_stack(tmp_path: Path) -> None:
    """Three axial and two coronal images in one series: which one is meant is truly ambiguous."""
    paths = _series(tmp_path, shape=(5, 4, 4))
    for path in paths[3:]:
        ds = pydicom.dcmread(path)
        ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
        ds.save_as(path)
    err = refusal(tmp_path / "series")
    assert err.code == "mixed_orientation"
    assert "3 axial" in err.message and "2 coronal" in err.message


def test_a_stray_image_in_another_orientation_is_left_out_with_a_warning(tmp_path: Path) -> None:
    """Four axial slices and one unmarked coronal localizer: the localizer goes, a warning says so."""
    hu = unique_hu((5, 4, 4))
    paths = _series(tmp_path, hu=hu)
    ds = pydicom.dcmread(paths[4])
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.save_as(paths[4])
    plan, volume = load(tmp_path / "series")
    np.testing.assert_array_equal(volume.array, hu[:4].astype(np.int16))
    assert any("1 image(s) of series" in w and "another orientation (coronal)" in w for w in plan.warnings)


def test_mixed_image_sizes_without_a_dominant_stack(tmp_path: Path) -> None:
    _series(tmp_path, shape=(4, 4, 4))
    write_ct_series(
        tmp_path / "series" / "odd",
        unique_hu((3, 6, 6)),
        origin=(10, -20, 38),
        seed=1,
        pixel_spacing=(0.8, 0.7),
        slice_step=2.0,
        uid_key="series",
        file_order="ascending",
    )
    for path in (tmp_path / "series" / "odd").iterdir():  # the same series as the others
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = pydicom.dcmread(_files(tmp_path / "series")[0]).SeriesInstanceUID
        ds.save_as(path)
    err = refusal(tmp_path / "series")
    assert err.code == "mixed_image_size"
    assert "4 images of 4x4" in err.message and "3 images of 6x6" in err.message


def test_an_odd_sized_image_is_left_out_when_the_stack_dominates(tmp_path: Path) -> None:
    hu = unique_hu((4, 4, 4))
    _series(tmp_path, hu=hu)
    write_ct_series(
        tmp_path / "series" / "odd",
        unique_hu((1, 6, 6)),
        origin=(10, -20, 38),
        seed=0,
        pixel_spacing=(0.8, 0.7),
        uid_key="series",
        file_order="ascending",
    )
    plan, volume = load(tmp_path / "series")
    np.testing.assert_array_equal(volume.array, hu.astype(np.int16))
    assert any("another image size" in w for w in plan.warnings)


def test_mixed_pixel_spacing_without_a_dominant_stack(tmp_path: Path) -> None:
    paths = _series(tmp_path, shape=(4, 4, 4))
    for path in paths[:2]:
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = [0.9, 0.9]
        ds.save_as(path)
    err = refusal(tmp_path / "series")
    assert err.code == "mixed_pixel_spacing"


@pytest.mark.parametrize("keyword", ["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"])
def test_missing_geometry(tmp_path: Path, keyword: str) -> None:
    paths = _series(tmp_path, shape=(4, 4, 4))
    ds = pydicom.dcmread(paths[1])
    delattr(ds, keyword)
    ds.save_as(paths[1])
    err = refusal(tmp_path / "series")
    assert err.code == "missing_geometry"
    assert keyword in err.message and "1 of 4 images" in err.message


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("ImageOrientationPatient", [1, 0, 0, 1, 0, 0]),
        ("ImageOrientationPatient", [0, 0, 0, 0, 1, 0]),
        ("PixelSpacing", [0, 0.7]),
    ],
)
def test_broken_geometry_values(tmp_path: Path, keyword: str, value: list[float]) -> None:
    for path in _series(tmp_path, shape=(4, 4, 4)):
        ds = pydicom.dcmread(path)
        setattr(ds, keyword, value)
        ds.save_as(path)
    err = refusal(tmp_path / "series")
    assert err.code == "invalid_geometry"
    assert keyword in err.message


def test_too_few_slices(tmp_path: Path) -> None:
    _series(tmp_path, shape=(2, 4, 4))
    err = refusal(tmp_path / "series")
    assert err.code == "too_few_slices"
    assert "only 2 image(s); a volume needs at least 3" in err.message
    plan, _ = load(tmp_path / "series", min_slices=2)
    assert len(plan.frames) == 2


def test_uneven_spacing(tmp_path: Path) -> None:
    positions = [(10.0, -20.0, z) for z in (0.0, 2.0, 4.0, 6.8, 8.0, 10.0)]
    _series(tmp_path, positions=positions)
    err = refusal(tmp_path / "series")
    assert err.code == "uneven_spacing"
    assert "slices 3 and 4 are 2.8 mm apart where the series mostly steps by 2 mm" in err.message


def test_gap_found_even_when_most_differences_are_gaps(tmp_path: Path) -> None:
    paths = _series(tmp_path, shape=(4, 4, 4))
    paths[2].unlink()  # positions 0, 2, 6: a median step of 3 would hide the gap
    err = refusal(tmp_path / "series")
    assert err.code == "slice_gap"
    assert "between slice 2 and 3 (4 mm where 2 mm is expected): 1 slice missing" in err.message


def test_memory_cap(tmp_path: Path) -> None:
    _series(tmp_path, shape=(6, 5, 4))
    err = refusal(tmp_path / "series", max_volume_bytes=100)
    assert err.code == "volume_too_large"
    assert "4 x 5 x 6 voxels of int16" in err.message


def test_only_non_dicom_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (tmp_path / "scan.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    err = refusal(tmp_path)
    assert err.code == "no_image_series"
    assert "non-DICOM files (.txt): 1" in err.message and "non-DICOM files (.jpg): 1" in err.message


def test_truncated_header_is_a_damaged_file(tmp_path: Path) -> None:
    paths = _series(tmp_path, shape=(4, 4, 4))
    for cut, path in zip((300, 700), paths[1:3], strict=True):  # cut inside the file meta / the header
        path.write_bytes(path.read_bytes()[:cut])
    err = refusal(tmp_path / "series")
    assert err.code == "damaged_file"
    assert paths[1].name in err.message and paths[2].name in err.message


def test_truncated_pixel_data(tmp_path: Path) -> None:
    paths = _series(tmp_path, shape=(4, 16, 16))
    paths[1].write_bytes(paths[1].read_bytes()[:-100])
    err = refusal(tmp_path / "series")
    assert err.code in {"corrupt_pixel_data", "damaged_file"}
    assert paths[1].name in err.message


def test_rescale_to_float32_when_not_integral(tmp_path: Path) -> None:
    hu = unique_hu((4, 3, 3)) * 0.5  # exactly representable with slope 0.5
    _series(tmp_path, hu=hu, slope=0.5, intercept=-1000.0)
    _, volume = load(tmp_path / "series")
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, hu)


def test_int16_overflow_is_promoted_exactly(tmp_path: Path) -> None:
    hu = unique_hu((4, 3, 3), start=0) + 40000  # beyond int16, unsigned stored values, intercept 0
    _series(tmp_path, hu=hu, intercept=0.0, signed=False)
    _, volume = load(tmp_path / "series")
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, hu)


def test_enhanced_multiframe_ct(tmp_path: Path) -> None:
    hu = unique_hu((6, 5, 4))
    order = [3, 0, 5, 1, 4, 2]  # frames stored out of order; positions tell the truth
    write_enhanced_ct(
        tmp_path / "enhanced" / "ct.dcm",
        hu,
        origin=(10.0, -20.0, 30.0),
        pixel_spacing=(0.8, 0.7),
        slice_step=2.0,
        frame_order=order,
    )
    plan, volume = load(tmp_path / "enhanced")
    assert plan.series.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2.1"
    np.testing.assert_array_equal(volume.array, hu.astype(np.int16))
    assert plan.layout.grid.spacing == pytest.approx((0.7, 0.8, 2.0))


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, RLELossless, JPEGLSLossless, JPEG2000Lossless])
def test_transfer_syntaxes_decode_exactly(tmp_path: Path, syntax: str) -> None:
    hu = np.random.default_rng(3).integers(-1000, 2000, size=(3, 32, 32)).astype(np.float32)
    _series(tmp_path, hu=hu, transfer_syntax=syntax)
    assert str(pydicom.dcmread(_files(tmp_path / "series")[0]).file_meta.TransferSyntaxUID) == syntax
    plan, volume = load(tmp_path / "series")
    assert plan.transfer_syntaxes == (syntax,)
    np.testing.assert_array_equal(volume.array, hu.astype(np.int16))


def test_jpeg_lossless_decodes_exactly(tmp_path: Path) -> None:
    hu = np.random.default_rng(4).integers(-1000, 3000, size=(4, 16, 16)).astype(np.float32)
    for path in _series(tmp_path, hu=hu, signed=False):
        ds = pydicom.dcmread(path)
        ds.PixelData = encapsulate([encode_jpeg_lossless(ds.pixel_array)])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds.save_as(path)
    plan, volume = load(tmp_path / "series")
    assert plan.transfer_syntaxes == (JPEGLosslessSV1,)
    np.testing.assert_array_equal(volume.array, hu.astype(np.int16))


def test_pixel_offset_from_the_scan_is_checked(tmp_path: Path) -> None:
    """If a file changes between the scan and the read, the saved Pixel Data offset is not trusted."""
    hu = unique_hu((4, 5, 6))
    paths = _series(tmp_path, hu=hu)
    series, _ = choose_series(scan_files(paths))
    series_plan = plan_with_limits(series)
    ds = pydicom.dcmread(paths[1])
    ds.ImageComments = "a longer header moves the pixel data" * 3
    ds.save_as(paths[1])
    volume = read_volume(series_plan, max_volume_bytes=2**30)
    np.testing.assert_array_equal(volume.array, hu.astype(np.int16))


def test_unsupported_transfer_syntax_names_the_decoder_problem(tmp_path: Path) -> None:
    for path in _series(tmp_path, shape=(4, 4, 4)):
        ds = pydicom.dcmread(path)
        ds.PixelData = encapsulate([b"\0" * 16])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2
        ds.save_as(path)
    err = refusal(tmp_path / "series")
    assert err.code == "missing_decoder"
    assert "MPEG2" in err.message


def test_missing_decoder_package_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.pixels import get_decoder

    _series(tmp_path, shape=(4, 8, 8), transfer_syntax=JPEGLSLossless)
    decoder = get_decoder(JPEGLSLossless)
    # As if neither pyjpegls nor pylibjpeg were installed on the worker.
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(
        decoder,
        "_unavailable",
        {
            "pyjpegls": ("requires pyjpegls>=1.2",),
            "pylibjpeg": ("requires pylibjpeg>=2.0 and pylibjpeg-libjpeg",),
        },
    )
    err = refusal(tmp_path / "series")
    assert err.code == "missing_decoder"
    assert "JPEG-LS Lossless" in err.message and "pyjpegls" in err.message
