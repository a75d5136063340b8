"""A hostile-input corpus for ingestion, built by code at test time (no committed binaries).

Each case writes its upload into a folder and names the refusal code it must end with: declared
sizes that lie, every archive trick, and every refusal of the DICOM and segmentation rules. The
library tests (``tests/imaging/test_hostile_corpus.py``) run every case through ``convert``; the
ingest tests (``tests/ingest/test_hostile_jobs.py``) run a representative subset as real jobs; the
benchmark ``benchmarks/dicom_tolerance.py --hostile`` times them all.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, RLELossless

from imaging.conversion.phantom import write_ct_series, write_dicom_seg, write_enhanced_ct, write_nifti_labels


@dataclass
class Upload:
    """What a case uploads: the inputs, an optional segmentation, and limits narrower than the defaults."""

    inputs: list[Path]
    segmentation: Path | None = None
    limits: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    code: str
    build: Callable[[Path], Upload]


GEOMETRY = {"origin": (10.0, -20.0, 30.0), "pixel_spacing": (0.8, 0.7), "slice_step": 2.0}


def _hu(shape: tuple[int, int, int] = (4, 8, 8)) -> np.ndarray:
    return (np.arange(int(np.prod(shape)), dtype=np.float32) - 500).reshape(shape)


def series(folder: Path, shape: tuple[int, int, int] = (4, 8, 8), **kwargs: object) -> list[Path]:
    """A small, valid CT series (slice order k) that cases then damage."""
    return write_ct_series(folder, _hu(shape), **{**GEOMETRY, **kwargs})  # type: ignore[arg-type]


def _edit(path: Path, **values: object) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


def _zip(path: Path, entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


# --------------------------------------------------------------------------------------- declared sizes


def _frames_lie_classic(tmp: Path) -> Upload:
    paths = series(tmp / "ct")
    _edit(paths[0], NumberOfFrames=100_000)
    return Upload([tmp / "ct"])


def _frames_lie_enhanced(tmp: Path) -> Upload:
    path = write_enhanced_ct(tmp / "ct" / "ct.dcm", _hu(), **GEOMETRY)  # type: ignore[arg-type]
    _edit(path, NumberOfFrames=100_000)
    return Upload([tmp / "ct"])


def _per_frame_items_lie(tmp: Path) -> Upload:
    path = write_enhanced_ct(tmp / "ct" / "ct.dcm", _hu(), **GEOMETRY)  # type: ignore[arg-type]
    ds = pydicom.dcmread(path)
    ds.PerFrameFunctionalGroupsSequence = Sequence(list(ds.PerFrameFunctionalGroupsSequence) * 3)
    ds.save_as(path)
    return Upload([tmp / "ct"])


def _frames_over_cap(tmp: Path) -> Upload:
    """Consistent bytes (25,000 frames of 1x1 at 8 bits) but more frames than the cap."""
    path = write_enhanced_ct(tmp / "ct" / "ct.dcm", _hu((2, 1, 1)), **GEOMETRY)  # type: ignore[arg-type]
    ds = pydicom.dcmread(path)
    del ds.PerFrameFunctionalGroupsSequence
    ds.NumberOfFrames, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 25_000, 8, 8, 7
    ds.PixelData = bytes(25_000)
    ds.save_as(path)
    return Upload([tmp / "ct"])


def _rows_columns_lie(tmp: Path) -> Upload:
    paths = series(tmp / "ct")
    _edit(paths[1], Rows=65535, Columns=65535)
    return Upload([tmp / "ct"])


def _bits_lie(tmp: Path) -> Upload:
    paths = series(tmp / "ct")
    _edit(paths[1], BitsAllocated=32, BitsStored=32, HighBit=31)
    return Upload([tmp / "ct"])


def _implausible(**values: object) -> Callable[[Path], Upload]:
    def build(tmp: Path) -> Upload:
        paths = series(tmp / "ct")
        _edit(paths[2], **values)
        return Upload([tmp / "ct"])

    return build


def _compressed_frames_lie(tmp: Path) -> Upload:
    path = write_enhanced_ct(tmp / "ct" / "ct.dcm", _hu(), **GEOMETRY)  # type: ignore[arg-type]
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless, generate_instance_uid=False)
    del ds.PerFrameFunctionalGroupsSequence
    ds.NumberOfFrames = 100_000
    ds.save_as(path)
    return Upload([tmp / "ct"])


def _fragment_past_the_end(tmp: Path) -> Upload:
    paths = series(tmp / "ct", transfer_syntax=RLELossless)
    paths[1].write_bytes(paths[1].read_bytes()[:-40])
    return Upload([tmp / "ct"])


def _truncated_native(tmp: Path) -> Upload:
    paths = series(tmp / "ct")
    paths[1].write_bytes(paths[1].read_bytes()[:-30])
    return Upload([tmp / "ct"])


def _item_bomb(tmp: Path) -> Upload:
    """An undefined-length private sequence of 60,000 empty items: about 1 MB that pydicom would need
    5-8 s to parse into objects."""
    paths = series(tmp / "ct")
    ds = pydicom.dcmread(paths[0])
    ds.add_new(0x00090010, "LO", "HOSTILE")
    ds.add_new(0x00091010, "SQ", Sequence())
    ds.save_as(paths[0])
    data = paths[0].read_bytes()
    empty_sequence = b"\x09\x00\x10\x10SQ\x00\x00\x00\x00\x00\x00"
    items = (b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00") * 60_000
    bomb = b"\x09\x00\x10\x10SQ\x00\x00\xff\xff\xff\xff" + items + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    assert empty_sequence in data
    paths[0].write_bytes(data.replace(empty_sequence, bomb))
    return Upload([tmp / "ct"])


def _long_header(tmp: Path) -> Upload:
    paths = series(tmp / "ct")
    ds = pydicom.dcmread(paths[0])
    ds.add_new(0x00090010, "LO", "HOSTILE")
    ds.add_new(0x00091011, "OB", bytes(2 * 1024 * 1024))
    ds.save_as(paths[0])
    return Upload([tmp / "ct"], limits={"max_header_bytes": 1024 * 1024})


def _deflate_bomb(tmp: Path) -> Upload:
    """A deflated dataset whose private element inflates to 64 MiB of zeros from a 64 KB file."""
    paths = series(tmp / "ct")
    ds = pydicom.dcmread(paths[0])
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(paths[0], enforce_file_format=True)
    data = paths[0].read_bytes()
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    body = zlib.decompress(data[meta_end:], -zlib.MAX_WBITS)
    element = b"\x09\x00\x10\x00LO\x08\x00HOSTILE " + b"\x09\x00\x11\x10OB\x00\x00" + struct.pack("<I", 64 << 20)
    body = element + bytes(64 << 20) + body  # private group 0009 sorts before the rest of the dataset
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    paths[0].write_bytes(data[:meta_end] + squeezer.compress(body) + squeezer.flush())
    return Upload([tmp / "ct"], limits={"max_volume_bytes": 16 << 20})


# --------------------------------------------------------------------------------------- segmentations


def _seg_for(tmp: Path) -> tuple[Path, Path]:
    """A CT and its DICOM SEG (one box label), for the segmentation cases to damage."""
    ct = tmp / "ct"
    paths = series(ct, shape=(6, 8, 8))
    labels = np.zeros((6, 8, 8), np.uint8)
    labels[1:4, 2:6, 2:6] = 1
    seg = write_dicom_seg(tmp / "seg.dcm", paths, labels, {1: "liver"})
    return ct, seg


def _seg_frames_lie(tmp: Path) -> Upload:
    ct, seg = _seg_for(tmp)
    _edit(seg, NumberOfFrames=100_000)
    return Upload([ct], segmentation=seg)


def _seg_number_out_of_range(tmp: Path) -> Upload:
    ct, seg = _seg_for(tmp)
    ds = pydicom.dcmread(seg)
    ds.SegmentSequence[0].SegmentNumber = 0
    ds.save_as(seg)
    return Upload([ct], segmentation=seg)


def _seg_undefined_segment(tmp: Path) -> Upload:
    ct, seg = _seg_for(tmp)
    ds = pydicom.dcmread(seg)
    groups = [*ds.PerFrameFunctionalGroupsSequence, *ds.get("SharedFunctionalGroupsSequence", [])]
    for item in groups:
        if "SegmentIdentificationSequence" in item:
            item.SegmentIdentificationSequence[0].ReferencedSegmentNumber = 9
    ds.save_as(seg)
    return Upload([ct], segmentation=seg)


def _nifti_shape_lie(tmp: Path) -> Upload:
    ct = tmp / "ct"
    series(ct)
    path, _ = write_nifti_labels(
        tmp / "seg.nii", np.ones((4, 8, 8), np.uint8), origin=(0, 0, 0), spacing=(1, 1, 1), names={1: "liver"}
    )
    data = bytearray(path.read_bytes())
    data[42:48] = struct.pack("<3h", 1000, 1000, 1000)  # dim[1..3]: a 1 GB volume in a small file
    path.write_bytes(bytes(data))
    return Upload([ct], segmentation=path)


def _nifti_over_cap(tmp: Path) -> Upload:
    upload = _nifti_shape_lie(tmp)
    upload.limits["max_volume_bytes"] = 64 << 20
    return upload


def _seg_of_another_scan(tmp: Path) -> Upload:
    ct, seg = _seg_for(tmp)
    _edit(seg, FrameOfReferenceUID=pydicom.uid.generate_uid())
    return Upload([ct], segmentation=seg)


def _seg_not_a_seg(tmp: Path) -> Upload:
    ct, _ = _seg_for(tmp)
    return Upload([ct], segmentation=sorted(ct.iterdir())[0])


def _seg_garbage(tmp: Path) -> Upload:
    ct = tmp / "ct"
    series(ct)
    (tmp / "seg.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff" + b"\x07" * 300)
    return Upload([ct], segmentation=tmp / "seg.dcm")


def _nifti_probability(tmp: Path) -> Upload:
    import nibabel as nib

    ct = tmp / "ct"
    series(ct)
    nib.save(nib.Nifti1Image(np.full((8, 8, 4), 0.5, np.float32), np.eye(4)), tmp / "seg.nii.gz")
    return Upload([ct], segmentation=tmp / "seg.nii.gz")


def _nifti_empty(tmp: Path) -> Upload:
    ct = tmp / "ct"
    series(ct)
    path, _ = write_nifti_labels(
        tmp / "seg.nii.gz", np.zeros((4, 8, 8), np.uint8), origin=(0, 0, 0), spacing=(1, 1, 1), names={1: "liver"}
    )
    return Upload([ct], segmentation=path)


def _nifti_elsewhere(tmp: Path) -> Upload:
    ct = tmp / "ct"
    series(ct)
    path, _ = write_nifti_labels(
        tmp / "seg.nii.gz", np.ones((4, 8, 8), np.uint8), origin=(500, 500, 500), spacing=(1, 1, 1), names={1: "liver"}
    )
    return Upload([ct], segmentation=path)


def _labels_sidecar_broken(tmp: Path) -> Upload:
    ct = tmp / "ct"
    series(ct)
    path, sidecar = write_nifti_labels(
        tmp / "seg.nii.gz", np.ones((4, 8, 8), np.uint8), origin=(0, 0, 0), spacing=(1, 1, 1), names={1: "liver"}
    )
    sidecar.write_text('["liver"]')
    return Upload([ct], segmentation=path)


def _seg_unknown_format(tmp: Path) -> Upload:
    ct = tmp / "ct"
    series(ct)
    (tmp / "labels.nrrd").write_bytes(b"NRRD0004\n")
    return Upload([ct], segmentation=tmp / "labels.nrrd")


# --------------------------------------------------------------------------------------- archives


def _ct_bytes(tmp: Path) -> dict[str, bytes]:
    return {f"ct/{p.name}": p.read_bytes() for p in series(tmp / "src")}


def _archive(extra: dict[str, bytes], **kwargs: object) -> Callable[[Path], Upload]:
    def build(tmp: Path) -> Upload:
        return Upload([_zip(tmp / "upload.zip", {**_ct_bytes(tmp), **extra})], **kwargs)  # type: ignore[arg-type]

    return build


def _symlink(tmp: Path) -> Upload:
    path = tmp / "upload.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in _ct_bytes(tmp).items():
            archive.writestr(name, data)
        link = zipfile.ZipInfo("ct/link.dcm")
        link.create_system = 3
        link.external_attr = (0o120777 << 16) | 0x20
        archive.writestr(link, "/etc/passwd")
    return Upload([path])


def _lying_sizes(tmp: Path) -> Upload:
    """An entry that declares 100 bytes and unpacks to 4 MiB: patched in both of its headers."""
    path = _zip(tmp / "upload.zip", {**_ct_bytes(tmp), "ct/zeros.dcm": bytes(4 << 20)})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("ct/zeros.dcm")
    data[info.header_offset + 22 : info.header_offset + 26] = struct.pack("<I", 100)
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:
        name_length = struct.unpack("<H", data[start + 28 : start + 30])[0]
        if data[start + 46 : start + 46 + name_length] == b"ct/zeros.dcm":
            data[start + 24 : start + 28] = struct.pack("<I", 100)
        start += 4
    path.write_bytes(bytes(data))
    return Upload([path])


def _encrypted(tmp: Path) -> Upload:
    path = _zip(tmp / "upload.zip", _ct_bytes(tmp))
    data = bytearray(path.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + flag_at] |= 0x01  # the "encrypted" general-purpose bit
            start += 4
    path.write_bytes(bytes(data))
    return Upload([path])


def _unsupported_method(tmp: Path) -> Upload:
    path = _zip(tmp / "upload.zip", _ct_bytes(tmp))
    data = bytearray(path.read_bytes())
    for signature, method_at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + method_at : start + method_at + 2] = struct.pack("<H", 9)  # Deflate64
            start += 4
    path.write_bytes(bytes(data))
    return Upload([path])


def _nul_name(tmp: Path) -> Upload:
    """zipfile cuts a name at a NUL when it writes it too: the byte goes in afterwards."""
    path = _zip(tmp / "upload.zip", {**_ct_bytes(tmp), "ct/evil.dcm_.txt": b"x"})
    path.write_bytes(path.read_bytes().replace(b"ct/evil.dcm_.txt", b"ct/evil.dcm\x00.txt"))
    return Upload([path])


def _nested_zip(tmp: Path) -> Upload:
    inner = _zip(tmp / "inner.zip", _ct_bytes(tmp))
    return Upload([_zip(tmp / "upload.zip", {"inner.zip": inner.read_bytes()})])


def _corrupt_zip(tmp: Path) -> Upload:
    path = _zip(tmp / "upload.zip", _ct_bytes(tmp))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + bytes(64))
    return Upload([path])


def _tarball(tmp: Path) -> Upload:
    import tarfile

    src = tmp / "src"
    series(src)
    with tarfile.open(tmp / "upload.tar.gz", "w:gz") as archive:
        archive.add(src, arcname="ct")
    return Upload([tmp / "upload.tar.gz"])


# --------------------------------------------------------------------------------------- DICOM rules


def _series_case(
    edit: Callable[[list[Path]], None],
    shape: tuple[int, int, int] = (4, 8, 8),
    limits: dict[str, int] | None = None,
    **kwargs: object,
) -> Callable[[Path], Upload]:
    def build(tmp: Path) -> Upload:
        paths = series(tmp / "ct", shape, **kwargs)
        edit(paths)
        return Upload([tmp / "ct"], limits=dict(limits or {}))

    return build


def _nothing(paths: list[Path]) -> None:
    del paths


def _delete(keyword: str) -> Callable[[list[Path]], None]:
    def edit(paths: list[Path]) -> None:
        ds = pydicom.dcmread(paths[1])
        delattr(ds, keyword)
        ds.save_as(paths[1])

    return edit


def _set_all(**values: object) -> Callable[[list[Path]], None]:
    def edit(paths: list[Path]) -> None:
        for path in paths:
            _edit(path, **values)

    return edit


def _set_some(count: int, **values: object) -> Callable[[list[Path]], None]:
    def edit(paths: list[Path]) -> None:
        for path in paths[-count:]:
            _edit(path, **values)

    return edit


def _drop(index: int) -> Callable[[list[Path]], None]:
    def edit(paths: list[Path]) -> None:
        paths[index].unlink()

    return edit


def _colour(paths: list[Path]) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit, ds.PixelRepresentation = 7, 0
        ds.PixelData = bytes(ds.Rows * ds.Columns * 3)
        ds.save_as(path)


def _mpeg(paths: list[Path]) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.PixelData = encapsulate([b"\0" * 16])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")
        ds.save_as(path)


def _garbage_pixels(paths: list[Path]) -> None:
    ds = pydicom.dcmread(paths[1])
    ds.PixelData = encapsulate([b"\x00\x00\x00\x10" + b"\xff" * 60])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = RLELossless
    ds.save_as(paths[1])


def _garbage_sop_class(paths: list[Path]) -> None:
    with warnings.catch_warnings():  # pydicom warns that the value is not a UID: that is the point
        warnings.simplefilter("ignore", UserWarning)
        for path in paths:
            ds = pydicom.dcmread(path)
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UID("1.2.3\x07\x1b[31m" + "9" * 40)
            ds.save_as(path)


def _truncated_header(paths: list[Path]) -> None:
    paths[1].write_bytes(paths[1].read_bytes()[:300])


def _second_phase(tmp: Path) -> Upload:
    paths = series(tmp / "ct")
    for k, path in enumerate(series(tmp / "phase2", extra={"AcquisitionNumber": 2})):
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.SeriesInstanceUID = pydicom.dcmread(paths[0]).SeriesInstanceUID
        ds.save_as(tmp / "ct" / f"P2_{k}.dcm")
    return Upload([tmp / "ct"])


def _not_dicom(tmp: Path) -> Upload:
    (tmp / "report.pdf").write_bytes(b"%PDF-1.4\n% not a DICOM file\n")
    return Upload([tmp / "report.pdf"])


def _missing_input(tmp: Path) -> Upload:
    return Upload([tmp / "does-not-exist"])


def _dataset_without_meta(paths: list[Path]) -> None:
    """A raw dataset that claims a CT but holds text where its pixel data belongs (no File Meta)."""
    data = paths[1].read_bytes()
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    body = data[meta_end:]
    paths[1].write_bytes(body[: len(body) // 3])


TILT = [(10.0, -20.0 + k * 0.2, 30.0 + 2.0 * k) for k in range(4)]
UNEVEN = [(10.0, -20.0, z) for z in (30.0, 32.0, 34.8, 36.0, 38.0)]


CASES = [
    # declared sizes that lie (issue 13)
    Case("frames_lie_classic", "declared_size_mismatch", _frames_lie_classic),
    Case("frames_lie_enhanced", "declared_size_mismatch", _frames_lie_enhanced),
    Case("per_frame_items_lie", "declared_size_mismatch", _per_frame_items_lie),
    Case("frames_over_cap", "too_many_frames", _frames_over_cap),
    Case("rows_columns_lie", "declared_size_mismatch", _rows_columns_lie),
    Case("bits_lie", "declared_size_mismatch", _bits_lie),
    Case("rows_zero", "implausible_header", _implausible(Rows=0)),
    Case("bits_allocated_7", "implausible_header", _implausible(BitsAllocated=7)),
    Case("bits_stored_over_allocated", "implausible_header", _implausible(BitsStored=20)),
    Case("high_bit_elsewhere", "implausible_header", _implausible(BitsStored=12, HighBit=15)),
    Case("samples_4", "implausible_header", _implausible(SamplesPerPixel=4)),
    Case("frames_zero", "implausible_header", _implausible(NumberOfFrames=0)),
    Case("compressed_frames_lie", "declared_size_mismatch", _compressed_frames_lie),
    Case("fragment_past_the_end", "corrupt_pixel_data", _fragment_past_the_end),
    Case("truncated_native", "corrupt_pixel_data", _truncated_native),
    Case("item_bomb", "header_too_large", _item_bomb),
    Case("long_header", "header_too_large", _long_header),
    Case("deflate_bomb", "archive_too_large", _deflate_bomb),
    Case("seg_frames_lie", "declared_size_mismatch", _seg_frames_lie),
    Case("seg_number_out_of_range", "segmentation_unreadable", _seg_number_out_of_range),
    Case("seg_undefined_segment", "segmentation_unreadable", _seg_undefined_segment),
    Case("nifti_shape_lie", "declared_size_mismatch", _nifti_shape_lie),
    Case("nifti_over_cap", "volume_too_large", _nifti_over_cap),
    # archive tricks
    Case("zip_traversal", "archive_unsafe_path", _archive({"../../etc/cron.d/evil": b"x"})),
    Case("zip_absolute", "archive_unsafe_path", _archive({"/etc/passwd": b"x"})),
    Case("zip_drive_letter", "archive_unsafe_path", _archive({"C:\\Windows\\evil.dcm": b"x"})),
    Case("zip_nul_name", "archive_unsafe_path", _nul_name),
    Case("zip_symlink", "archive_unsafe_path", _symlink),
    Case("zip_duplicate_case", "archive_unsafe_path", _archive({"CT/X.dcm": b"x", "ct/x.DCM": b"y"})),
    Case(
        "zip_duplicate_unicode", "archive_unsafe_path", _archive({"ct/caf\u00e9.dcm": b"x", "ct/cafe\u0301.dcm": b"y"})
    ),
    Case("zip_file_and_folder", "archive_unsafe_path", _archive({"ct/a": b"x", "ct/a/b.dcm": b"y"})),
    Case("zip_long_name", "archive_unsafe_path", _archive({"ct/" + "x" * 300 + ".dcm": b"x"})),
    Case(
        "zip_bomb",
        "archive_too_large",
        _archive({"ct/zeros.dcm": bytes(8 << 20)}, limits={"max_archive_bytes": 2 << 20}),
    ),
    Case("zip_lying_sizes", "archive_corrupt", _lying_sizes),  # zipfile stops at the declared size; the CRC fails
    Case(
        "zip_too_many_files",
        "too_many_files",
        _archive({f"ct/x{i}.dcm": b"x" for i in range(40)}, limits={"max_archive_files": 20}),
    ),
    Case(
        "zip_too_many_entries",
        "too_many_files",
        _archive({f"__MACOSX/._{i}": b"x" for i in range(60)}, limits={"max_archive_files": 20}),
    ),
    Case("zip_encrypted", "archive_encrypted", _encrypted),
    Case("zip_unsupported_method", "archive_unsupported_compression", _unsupported_method),
    Case("zip_corrupt", "archive_corrupt", _corrupt_zip),
    Case("zip_nested", "no_image_series", _nested_zip),
    Case("tarball", "no_image_series", _tarball),
    # the DICOM rules
    Case("input_missing", "input_missing", _missing_input),
    Case("not_dicom", "no_image_series", _not_dicom),
    Case("garbage_sop_class", "no_image_series", _series_case(_garbage_sop_class)),
    Case("truncated_header", "damaged_file", _series_case(_truncated_header)),
    Case("raw_dataset_cut", "damaged_file", _series_case(_dataset_without_meta)),
    Case("missing_position", "missing_geometry", _series_case(_delete("ImagePositionPatient"))),
    Case("missing_orientation", "missing_geometry", _series_case(_delete("ImageOrientationPatient"))),
    Case("missing_spacing", "missing_geometry", _series_case(_delete("PixelSpacing"))),
    Case(
        "orientation_not_unit", "invalid_geometry", _series_case(_set_all(ImageOrientationPatient=[1, 0, 0, 1, 0, 0]))
    ),
    Case("spacing_zero", "invalid_geometry", _series_case(_set_all(PixelSpacing=[0, 0.7]))),
    Case(
        "mixed_orientation",
        "mixed_orientation",
        _series_case(_set_some(2, ImageOrientationPatient=[1, 0, 0, 0, 0, -1])),
    ),
    Case("mixed_spacing", "mixed_pixel_spacing", _series_case(_set_some(2, PixelSpacing=[0.9, 0.9]))),
    Case("colour", "unsupported_pixel_format", _series_case(_colour)),
    Case("mpeg2", "missing_decoder", _series_case(_mpeg)),
    Case("too_few_slices", "too_few_slices", _series_case(_nothing, shape=(2, 8, 8))),
    Case("duplicate_position", "duplicate_position", _second_phase),
    Case("uneven_spacing", "uneven_spacing", _series_case(_nothing, shape=(5, 8, 8), positions=UNEVEN)),
    Case("slice_gap", "slice_gap", _series_case(_drop(2), shape=(6, 8, 8))),
    Case("gantry_tilt", "gantry_tilt", _series_case(_nothing, positions=TILT)),
    Case("volume_too_large", "volume_too_large", _series_case(_nothing, limits={"max_volume_bytes": 100})),
    Case("corrupt_pixel_data", "corrupt_pixel_data", _series_case(_garbage_pixels)),
    Case("segmentation_of_another_scan", "frame_of_reference_mismatch", _seg_of_another_scan),
    Case("segmentation_not_a_seg", "segmentation_unsupported", _seg_not_a_seg),
    Case("segmentation_garbage", "segmentation_unsupported", _seg_garbage),
    Case("segmentation_unknown_format", "segmentation_unsupported", _seg_unknown_format),
    Case("segmentation_probability_map", "segmentation_not_labels", _nifti_probability),
    Case("segmentation_empty", "segmentation_empty", _nifti_empty),
    Case("segmentation_outside_volume", "segmentation_outside_volume", _nifti_elsewhere),
    Case("labels_invalid", "labels_invalid", _labels_sidecar_broken),
]
BY_NAME = {case.name: case for case in CASES}
