"""Series without UIDs (issue 15): grouping by geometry, stable generated UIDs, exact messages."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from imaging.conversion.dicom import choose_series, plan_series, read_volume, scan_files
from imaging.conversion.errors import IngestError
from imaging.conversion.pipeline import convert
from tests.imaging.helpers import DICOMDIR_TESTS, read_vti
from tests.imaging.wild import BY_NAME

LIMITS: dict[str, Any] = {"min_slices": 3, "max_tilt_fraction": 0.25, "max_volume_bytes": 2 * 1024**3}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _strip(folder: Path, *keywords: str) -> None:
    for path in _files(folder):
        ds = pydicom.dcmread(path)
        for keyword in keywords:
            if keyword in ds:
                delattr(ds, keyword)
        ds.save_as(path)


def test_the_issues_series_converts_with_generated_uids_and_says_how(tmp_path: Path) -> None:
    """20 JPEG 2000 slices without Study, Series and SOP Class UIDs: converted, the job told how."""
    expect = BY_NAME["anonymised_jpeg2000_without_uids"].build(tmp_path)
    result = convert(inputs=[expect.folder], work_dir=tmp_path / "work")
    meta = result.metadata
    assert meta["dimensions"][2] == 20
    assert result.series_uid.startswith("2.25.") and meta["series_instance_uid"] == result.series_uid
    assert meta["study_instance_uid"].startswith("2.25.")
    grouped = next(w for w in result.warnings if "SeriesInstanceUID" in w)
    assert grouped.startswith("20 file(s) have no SeriesInstanceUID; they were grouped into one series by ")
    assert "FrameOfReferenceUID, image orientation, rows and columns, pixel spacing, modality" in grouped
    assert (
        "20 file(s) have no SOPClassUID in their dataset; the class was taken from their File Meta." in result.warnings
    )
    assert any(
        w.startswith("20 file(s) have no StudyInstanceUID") and "Frame of Reference" in w for w in result.warnings
    )
    assert meta["warnings"] == [w for w in result.warnings if w in meta["warnings"]]  # the study keeps them too
    assert all(w in result.warnings for w in meta["warnings"]) and len(meta["warnings"]) >= 3


def test_generated_uids_are_stable_across_runs_names_and_order(tmp_path: Path) -> None:
    expect = BY_NAME["anonymised_jpeg2000_without_uids"].build(tmp_path)
    first = choose_series(scan_files(_files(expect.folder)))[0]
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for n, path in enumerate(reversed(_files(expect.folder))):
        shutil.copy(path, renamed / f"img{n:03d}")
    second = choose_series(scan_files(_files(renamed)))[0]
    assert (second.uid, second.study_uid) == (first.uid, first.study_uid)
    _files(renamed)[0].unlink()  # other files: another series
    third = choose_series(scan_files(_files(renamed)))[0]
    assert third.uid != first.uid


def test_files_without_any_distinguishing_attribute_form_one_group_and_overlaps_are_refused(tmp_path: Path) -> None:
    """Two series stripped of every identifier at the same positions: ambiguous, refused with the reason."""
    a = BY_NAME["clean"].build(tmp_path / "a")
    b = BY_NAME["clean"].build(tmp_path / "b")
    for folder in (a.folder, b.folder):
        _strip(
            folder, "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SeriesNumber", "SeriesDescription"
        )
    for n, path in enumerate(_files(b.folder)):
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(a.folder / f"B{n}.dcm")
    series, _ = choose_series(scan_files(_files(a.folder)))
    assert series.files == 12
    with pytest.raises(IngestError) as err:
        plan_series(series, **LIMITS)
    assert err.value.code == "duplicate_position"
    assert "6 pair(s) of images at the same position" in err.value.message


def test_a_garbage_sop_class_is_named_as_unknown_never_echoed(tmp_path: Path) -> None:
    expect = BY_NAME["clean"].build(tmp_path)
    with warnings.catch_warnings():  # pydicom warns that the value is no UID as it is set: the point here
        warnings.simplefilter("ignore", UserWarning)
        garbage = pydicom.uid.UID("1.2.3\x07\x1b[31m" + "9" * 70)
        for path in _files(expect.folder):
            ds = pydicom.dcmread(path)
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = garbage
            ds.save_as(path)
    with pytest.raises(IngestError) as err:
        choose_series(scan_files(_files(expect.folder)))
    assert err.value.code == "no_image_series"
    assert "CT images (an unknown SOP class): 6" in err.value.message
    assert err.value.message.isprintable() and "\x1b" not in err.value.message


def test_a_ct_image_missing_only_its_pixel_data_is_named_exactly(tmp_path: Path) -> None:
    expect = BY_NAME["clean"].build(tmp_path)
    victim = _files(expect.folder)[2]
    ds = pydicom.dcmread(victim)
    del ds.PixelData
    ds.save_as(victim)
    with pytest.raises(IngestError) as err:
        choose_series(scan_files(_files(expect.folder)))
    assert err.value.code == "damaged_file"
    assert f"{victim.name} (a CT image without Pixel Data: truncated or incomplete)" in err.value.message


def test_missing_geometry_is_counted_per_attribute(tmp_path: Path) -> None:
    expect = BY_NAME["clean"].build(tmp_path)
    paths = _files(expect.folder)
    for path, keyword in zip(paths[:3], ["ImagePositionPatient", "ImagePositionPatient", "PixelSpacing"], strict=True):
        ds = pydicom.dcmread(path)
        delattr(ds, keyword)
        ds.save_as(path)
    series, _ = choose_series(scan_files(paths))
    with pytest.raises(IngestError) as err:
        plan_series(series, **LIMITS)
    assert err.value.code == "missing_geometry"
    assert "2 of 6 images lack ImagePositionPatient; 1 of 6 images lack PixelSpacing" in err.value.message


def test_pydicoms_real_ct_series_without_uids_is_grouped_and_voxel_exact(tmp_path: Path) -> None:
    """dicomdirtests/98892001/CT5N (five real GE slices) with every UID stripped, mixed with the other
    real series of the folder stripped the same way: CT5N is still found, whole and voxel-exact."""
    root = tmp_path / "dicomdirtests"
    shutil.copytree(DICOMDIR_TESTS / "98892001", root)
    originals = {p.name: pydicom.dcmread(p) for p in _files(root / "CT5N")}
    _strip(root, "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID")
    scan = scan_files(_files(root))
    series, ignored = choose_series(scan)
    assert series.files == 5 and series.uid.startswith("2.25.")
    assert any("5 file(s) have no SeriesInstanceUID" in w for w in series.warnings)
    plan = plan_series(series, **LIMITS)
    volume = read_volume(plan, max_volume_bytes=2**30)
    inverse = np.linalg.inv(volume.layout.grid.array_affine())
    for ds in originals.values():
        hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        position = np.asarray(ds.ImagePositionPatient, float)
        row, col = np.asarray(ds.ImageOrientationPatient[:3], float), np.asarray(ds.ImageOrientationPatient[3:], float)
        dy, dx = (float(v) for v in ds.PixelSpacing)
        for j, i in [(0, 0), (0, ds.Columns - 1), (ds.Rows - 1, 0), (ds.Rows - 1, ds.Columns - 1), (7, 9)]:
            world = position + i * dx * row + j * dy * col
            z, y, x = np.rint(inverse @ np.append(world, 1.0))[:3].astype(int)
            assert volume.array[z, y, x] == hu[j, i]


def test_the_study_metadata_and_the_vti_agree_for_a_grouped_series(tmp_path: Path) -> None:
    expect = BY_NAME["no_uids_no_frame_of_reference"].build(tmp_path)
    result = convert(inputs=[expect.folder], work_dir=tmp_path / "work")
    assert result.metadata["frame_of_reference_uid"] is None
    assert any("no FrameOfReferenceUID" in w for w in result.metadata["warnings"])
    _, values = read_vti(result.volume_path)
    assert values.shape == (6, 64, 64)
