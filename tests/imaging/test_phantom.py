"""The phantom: deterministic, valid DICOM, plausible anatomy."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imaging.conversion.phantom import PATIENT_NAME, PhantomFiles, build_phantom, phantom_uid, write_phantom


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    again = write_phantom(tmp_path / "again", size="small", seed=0)
    first = _digest(small_phantom.series_dir.parent)
    assert first == _digest(tmp_path / "again")
    assert len(first) == 48 + 1
    assert again.series_instance_uid == small_phantom.series_instance_uid


def test_other_seed_other_uids_and_noise(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    other = write_phantom(tmp_path / "other", size="small", seed=7)
    assert other.series_instance_uid != small_phantom.series_instance_uid
    assert other.frame_of_reference_uid != small_phantom.frame_of_reference_uid
    a = pydicom.dcmread(sorted(small_phantom.series_dir.iterdir())[10]).pixel_array
    b = pydicom.dcmread(sorted(other.series_dir.iterdir())[10]).pixel_array
    assert not np.array_equal(a, b)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 20  # same anatomy, other noise
    assert phantom_uid(7, "x") == phantom_uid(7, "x") != phantom_uid(8, "x")
    assert phantom_uid(0, "x").startswith("2.25.") and len(phantom_uid(0, "x")) <= 64


def test_valid_ct_dicom(small_phantom: PhantomFiles) -> None:
    files = sorted(small_phantom.series_dir.iterdir())
    ds = pydicom.dcmread(files[0])
    assert ds.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert ds.preamble is not None and ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and ds.Modality == "CT"
    assert str(ds.PatientName) == PATIENT_NAME and ds.PatientID.startswith("PHANTOM-")
    assert ds.FrameOfReferenceUID == small_phantom.frame_of_reference_uid
    assert ds.SeriesInstanceUID == small_phantom.series_instance_uid
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert float(ds.RescaleSlope) == 1 and float(ds.RescaleIntercept) == -1024
    assert (ds.Rows, ds.Columns) == (96, 96)
    uids = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files}
    assert len(uids) == len(files) == 48
    seg = pydicom.dcmread(small_phantom.segmentation_path)
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert seg.FrameOfReferenceUID == small_phantom.frame_of_reference_uid
    assert [s.SegmentLabel for s in seg.SegmentSequence] == list(small_phantom.labels.values())


def test_anatomy_and_hounsfield_units() -> None:
    classes, labels, origin, spacing = build_phantom("small", extra_structures=True)
    names = {
        1: "liver",
        2: "tumour",
        3: "portal vein",
        4: "hepatic veins",
        5: "pancreas",
        6: "bile ducts",
        7: "inferior vena cava",
        8: "gallbladder",
    }
    counts = np.bincount(labels.ravel(), minlength=9)
    assert all(counts[v] > 0 for v in names), counts
    liver_ml = counts[1] * np.prod(spacing) / 1000
    assert 1000 < liver_ml < 2500  # an adult liver
    assert counts[2] < counts[1] and counts[6] < counts[5]
    # Structures stay clear of the first and last slices, so meshes stay inside the volume.
    for v in (1, 2, 3, 4, 5, 6, 8):
        zs = np.flatnonzero((labels == v).any(axis=(1, 2)))
        assert zs.min() > 0 and zs.max() < labels.shape[0] - 1, names[v]
    _, six, _, _ = build_phantom("small")
    assert set(np.unique(six)) == {0, 1, 2, 3, 4, 5, 6}


@pytest.mark.parametrize(("label", "low", "high"), [(1, 90, 130), (2, 25, 65), (3, 150, 200), (6, -10, 40)])
def test_pixel_values_are_plausible(small_phantom: PhantomFiles, label: int, low: float, high: float) -> None:
    _, labels, _, _ = build_phantom("small")
    files = sorted(small_phantom.series_dir.iterdir(), key=lambda p: -int(p.stem[2:]))  # ascending z
    hu = np.stack([pydicom.dcmread(f).pixel_array.astype(np.float32) - 1024 for f in files])
    assert low < hu[labels == label].mean() < high
    assert hu[:, 0, 0].mean() == pytest.approx(-1000, abs=10)  # air in the corner
    assert 5 < hu[labels == 1].std() < 15  # mild noise
