"""DICOM as it arrives from the wild: real pixel data with each quirk of real exports applied.

Every case starts from real pixels (pydicom's own ``CT_small.dcm``, a 128 x 128 GE slice, shifted per
slice so that no two slices are alike) written as a CT series with a geometry the case knows
exactly, then damages it the way anonymisers, gateways and old archives do. ``build`` returns what
the library must do: accept (with the slices it keeps, their geometry and the warnings it must give)
or refuse (with the code). ``tests/imaging/test_tolerance.py`` decides each case;
``benchmarks/dicom_tolerance.py`` runs the same corpus through dcm2niix and compares geometries.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from imaging.conversion.phantom import write_ct_series
from tests.imaging.helpers import PYDICOM_TEST_FILES

ROW, COL = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
OBLIQUE_ROW = (0.9659258, 0.2588190, 0.0)  # 15 degrees about z
OBLIQUE_COL = (-0.2588190, 0.9659258, 0.0)


@dataclass
class Expect:
    """What a case must produce: kept slices (acquisition order) and their geometry, or a refusal."""

    folder: Path
    hu: np.ndarray | None = None  # (k, j, i) Hounsfield units of the slices that must be kept
    origin: tuple[float, float, float] = (-60.0, -80.0, 20.0)
    row: tuple[float, float, float] = ROW
    col: tuple[float, float, float] = COL
    pixel_spacing: tuple[float, float] = (0.7, 0.6)
    step: float = 2.5
    refused: str | None = None  # the refusal code, when the library must refuse
    warnings: list[str] = field(default_factory=list)  # substrings of the warnings it must give
    exact: bool = True  # voxel-exact HU (False for lossy compression)
    reason: str = ""  # why a refusal is right (docs/dicom-tolerance.md repeats it)


@dataclass(frozen=True)
class WildCase:
    name: str
    build: Callable[[Path], Expect]


def real_hu(slices: int = 6, size: int = 64) -> np.ndarray:
    """HU from CT_small's real pixels (cropped to ``size``), each slice shifted by a few pixels."""
    ds = pydicom.dcmread(PYDICOM_TEST_FILES / "CT_small.dcm")
    hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return np.stack([np.roll(hu, 3 * k, axis=1)[32 : 32 + size, 32 : 32 + size] for k in range(slices)])


def _write(folder: Path, hu: np.ndarray, expect: Expect | None = None, **kwargs: object) -> list[Path]:
    e = expect or Expect(folder)
    return write_ct_series(
        folder,
        hu,
        **{  # type: ignore[arg-type]
            "origin": e.origin,
            "row_direction": e.row,
            "column_direction": e.col,
            "pixel_spacing": e.pixel_spacing,
            "slice_step": e.step,
            "extra": {"Manufacturer": "GE MEDICAL SYSTEMS"},
            **kwargs,
        },
    )


def _edit_all(paths: list[Path], edit: Callable[[pydicom.Dataset, int], None]) -> None:
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        edit(ds, k)
        ds.save_as(path)


def _plain(syntax: str = "1.2.840.10008.1.2.1") -> Callable[[Path], Expect]:
    def build(tmp: Path) -> Expect:
        e = Expect(tmp / "ct", hu=real_hu())
        assert e.hu is not None
        _write(e.folder, e.hu, e, transfer_syntax=syntax)
        return e

    return build


def _anonymised_j2k(tmp: Path) -> Expect:
    """The issue's series: JPEG 2000, Study/Series/SOP Class UIDs removed; File Meta names the class."""
    e = Expect(tmp / "ct", hu=real_hu(20), warnings=["have no SeriesInstanceUID", "File Meta", "StudyInstanceUID"])
    assert e.hu is not None
    paths = _write(e.folder, e.hu, e, transfer_syntax=JPEG2000Lossless)

    def strip(ds: pydicom.Dataset, k: int) -> None:
        del ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPClassUID

    _edit_all(paths, strip)
    return e


def _no_uids_no_frame_of_reference(tmp: Path) -> Expect:
    e = Expect(tmp / "ct", hu=real_hu(), warnings=["have no SeriesInstanceUID", "no FrameOfReferenceUID"])
    assert e.hu is not None
    paths = _write(e.folder, e.hu, e)

    def strip(ds: pydicom.Dataset, k: int) -> None:
        del ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID

    _edit_all(paths, strip)
    return e


def _without_file_meta(implicit: bool) -> Callable[[Path], Expect]:
    def build(tmp: Path) -> Expect:
        e = Expect(tmp / "ct", hu=real_hu(), warnings=["no preamble or File Meta"])
        assert e.hu is not None
        syntax = {"transfer_syntax": ImplicitVRLittleEndian} if implicit else {}
        paths = _write(e.folder, e.hu, e, **syntax)
        for path in paths:
            data = path.read_bytes()
            meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
            path.write_bytes(data[meta_end:])
        return e

    return build


def _delete(*keywords: str, warning: str | None = None) -> Callable[[Path], Expect]:
    def build(tmp: Path) -> Expect:
        hu = real_hu()
        e = Expect(tmp / "ct", hu=hu, warnings=[warning] if warning else [])
        paths = _write(e.folder, hu, e, intercept=0.0 if "RescaleIntercept" in keywords else -1024.0)

        def strip(ds: pydicom.Dataset, k: int) -> None:
            for keyword in keywords:
                delattr(ds, keyword)

        _edit_all(paths, strip)
        return e

    return build


def _unsigned_declared(tmp: Path) -> Expect:
    """Signed data (air at -1000 stored as 0xFC18) whose header says PixelRepresentation 0."""
    hu = real_hu()
    e = Expect(tmp / "ct", hu=hu, warnings=["declared unsigned"])
    paths = _write(e.folder, hu, e, intercept=0.0)
    _edit_all(paths, lambda ds, k: setattr(ds, "PixelRepresentation", 0))
    return e


def _stray_high_bits(tmp: Path) -> Expect:
    """12 bits stored in 16, with an overlay bit set above them in some pixels."""
    hu = real_hu()
    e = Expect(tmp / "ct", hu=hu, warnings=["bits set above BitsStored"])
    paths = _write(e.folder, hu, e, signed=False)

    def overlay(ds: pydicom.Dataset, k: int) -> None:
        stored = ds.pixel_array.astype(np.uint16)
        assert stored.max() < 4096
        stored[::7, ::5] |= 0x8000
        ds.BitsStored, ds.HighBit = 12, 11
        ds.PixelData = stored.tobytes()

    _edit_all(paths, overlay)
    return e


def _padding(tmp: Path) -> Expect:
    """GE-style padding: -2000 stored outside the body circle (-3024 HU), declared as padding."""
    hu = real_hu()
    outside = np.hypot(*np.meshgrid(np.arange(64) - 31.5, np.arange(64) - 31.5)) > 30
    expected = hu.copy()
    expected[:, outside] = -1024.0
    padded = hu.copy()
    padded[:, outside] = -2000.0 - 1024.0
    e = Expect(tmp / "ct", hu=expected, warnings=["PixelPaddingValue"])
    paths = _write(e.folder, padded, e)
    _edit_all(paths, lambda ds, k: ds.add_new(0x00280120, "SS", -2000))  # PixelPaddingValue
    return e


def _numbers_disagree(keyword: str) -> Callable[[Path], Expect]:
    def build(tmp: Path) -> Expect:
        e = Expect(tmp / "ct", hu=real_hu(), warnings=[f"the {keyword} order disagrees"])
        assert e.hu is not None
        paths = _write(e.folder, e.hu, e)
        order = [3, 0, 5, 1, 4, 2]
        _edit_all(
            paths, lambda ds, k: setattr(ds, keyword, order[k] + 1 if keyword == "InstanceNumber" else 10 * order[k])
        )
        return e

    return build


def _mixed_syntaxes(tmp: Path) -> Expect:
    e = Expect(tmp / "ct", hu=real_hu())
    assert e.hu is not None
    paths = _write(e.folder, e.hu, e)
    for path, syntax in zip(
        paths, [JPEG2000Lossless, RLELossless, JPEGLSLossless, None, RLELossless, None], strict=True
    ):
        if syntax is not None:
            ds = pydicom.dcmread(path)
            ds.compress(syntax, generate_instance_uid=False)
            ds.save_as(path)
    return e


def _lossy_j2k(tmp: Path) -> Expect:
    e = Expect(tmp / "ct", hu=real_hu(), warnings=["lossy-compressed"], exact=False)
    assert e.hu is not None
    paths = _write(e.folder, e.hu, e)

    def squeeze(ds: pydicom.Dataset, k: int) -> None:
        ds.compress(JPEG2000, j2k_cr=[8], generate_instance_uid=False)
        ds.LossyImageCompression = "01"

    _edit_all(paths, squeeze)
    return e


def _deflated(tmp: Path) -> Expect:
    e = Expect(tmp / "ct", hu=real_hu())
    assert e.hu is not None
    for path in _write(e.folder, e.hu, e):
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=True)
    return e


def _big_endian(tmp: Path) -> Expect:
    e = Expect(tmp / "ct", hu=real_hu())
    assert e.hu is not None
    for path in _write(e.folder, e.hu, e):
        ds = pydicom.dcmread(path)
        ds.PixelData = ds.pixel_array.astype(">i2").tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pydicom.dcmwrite(path, ds, little_endian=False, implicit_vr=False, enforce_file_format=True)
    return e


def _with_localizers(marked: bool) -> Callable[[Path], Expect]:
    """Two coronal scout images in the axial series (same SeriesInstanceUID), marked or not."""

    def build(tmp: Path) -> Expect:
        hu = real_hu()
        e = Expect(tmp / "ct", hu=hu, warnings=["localizer image(s)" if marked else "another orientation (coronal)"])
        paths = _write(e.folder, hu, e)
        series_uid = pydicom.dcmread(paths[0]).SeriesInstanceUID
        scouts = _write(tmp / "scout", real_hu(2, 64), e, row_direction=(1, 0, 0), column_direction=(0, 0, -1), seed=5)
        for n, path in enumerate(scouts):
            ds = pydicom.dcmread(path)
            ds.SeriesInstanceUID = series_uid
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
            if marked:
                ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
            ds.save_as(e.folder / f"SCOUT{n}.dcm")
        return e

    return build


def _other_acquisition(tmp: Path) -> Expect:
    """Six slices of acquisition 1 and two repeated slices of acquisition 2, one series."""
    hu = real_hu()
    e = Expect(tmp / "ct", hu=hu, warnings=["other acquisitions"])
    paths = _write(e.folder, hu, e)
    series_uid = pydicom.dcmread(paths[0]).SeriesInstanceUID
    repeat = _write(tmp / "repeat", real_hu(2) + 50, e, extra={"AcquisitionNumber": 2}, seed=9)
    for n, path in enumerate(repeat):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(e.folder / f"REPEAT{n}.dcm")
    return e


def _two_series_without_uids(tmp: Path) -> Expect:
    """Two series with their UIDs removed, told apart by SeriesNumber: the longer one is converted."""
    hu = real_hu(8)
    e = Expect(tmp / "ct", hu=hu, warnings=["have no SeriesInstanceUID", "SeriesNumber"])
    paths = _write(e.folder, hu, e, uid_key="a")
    others = _write(tmp / "ct" / "b", real_hu(5), e, uid_key="b", pixel_spacing=(0.7, 0.6), seed=2)
    for files, number in ((paths, 2), (others, 3)):

        def renumber(ds: pydicom.Dataset, k: int, number: int = number) -> None:
            del ds.SeriesInstanceUID
            ds.SeriesNumber = number

        _edit_all(files, renumber)
    return e


def _oblique(tmp: Path) -> Expect:
    e = Expect(tmp / "ct", hu=real_hu(), row=OBLIQUE_ROW, col=OBLIQUE_COL)
    assert e.hu is not None
    _write(e.folder, e.hu, e)
    return e


def _refused(code: str, reason: str, **kwargs: object) -> Callable[[Path], Expect]:
    def build(tmp: Path) -> Expect:
        e = Expect(tmp / "ct", refused=code, reason=reason)
        hu = real_hu()
        paths = _write(e.folder, hu, e, **kwargs)
        if code == "slice_gap":
            paths[2].unlink()
        return e

    return build


TILT = [(-60.0, -80.0 + 2.5 * k * np.tan(np.radians(10)), 20.0 + 2.5 * k) for k in range(6)]

CASES = [
    WildCase("clean", _plain()),
    WildCase("anonymised_jpeg2000_without_uids", _anonymised_j2k),
    WildCase("no_uids_no_frame_of_reference", _no_uids_no_frame_of_reference),
    WildCase("two_series_without_uids", _two_series_without_uids),
    WildCase("no_file_meta_explicit", _without_file_meta(implicit=False)),
    WildCase("no_file_meta_implicit", _without_file_meta(implicit=True)),
    WildCase("no_slice_thickness", _delete("SliceThickness")),
    WildCase("no_rescale", _delete("RescaleSlope", "RescaleIntercept", warning="no RescaleSlope/RescaleIntercept")),
    WildCase("pixel_representation_contradicts_data", _unsigned_declared),
    WildCase("stray_high_bits", _stray_high_bits),
    WildCase("padding_outside_body", _padding),
    WildCase("instance_numbers_disagree", _numbers_disagree("InstanceNumber")),
    WildCase("slice_locations_disagree", _numbers_disagree("SliceLocation")),
    WildCase("mixed_transfer_syntaxes", _mixed_syntaxes),
    WildCase("jpeg2000_lossless", _plain(JPEG2000Lossless)),
    WildCase("jpeg2000_lossy", _lossy_j2k),
    WildCase("jpeg_ls", _plain(JPEGLSLossless)),
    WildCase("rle", _plain(RLELossless)),
    WildCase("implicit_vr", _plain(ImplicitVRLittleEndian)),
    WildCase("deflated", _deflated),
    WildCase("big_endian", _big_endian),
    WildCase("marked_localizers", _with_localizers(marked=True)),
    WildCase("unmarked_localizers", _with_localizers(marked=False)),
    WildCase("slices_of_another_acquisition", _other_acquisition),
    WildCase("oblique", _oblique),
    WildCase(
        "gantry_tilt",
        _refused(
            "gantry_tilt",
            "a tilted stack is not a regular grid; dcm2niix resamples it (a second interpolation of the HU), "
            "we ask for the scanner's straight reconstruction",
            positions=TILT,
        ),
    ),
    WildCase(
        "missing_slice",
        _refused(
            "slice_gap",
            "a missing slice would be interpolated or silently closed up; dcm2niix writes the volume with a "
            "warning about varying spacing, we refuse so that nobody measures on a stretched volume",
        ),
    ),
]
BY_NAME = {case.name: case for case in CASES}
