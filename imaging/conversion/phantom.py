"""A deterministic synthetic abdominal CT with its segmentation, written as real DICOM.

The demo seeds every case with one, the benchmark times the pipeline on the full-size one and the
tests build odd geometries with ``write_ct_series``/``write_enhanced_ct``. Everything is derived from
``seed``: the noise and every UID (``2.25.`` UIDs hashed from the seed), so writing the same phantom
twice gives byte-identical files and re-seeding a database is idempotent.

The anatomy is made of ellipsoids and tubes in patient millimetres (LPS: +x the patient's left,
+y posterior, +z head), painted in an order that lets vessels and the tumour cut through the liver,
with portal-venous-phase HU values and mild Gaussian noise. The patient is obviously fictional
("PHANTOM^HPB"). Sizes: ``small`` (96x96x48, 3.75 x 3.75 x 5 mm) is quick enough to seed eight
cases; ``full`` (512x512x300, 0.78 x 0.78 x 1 mm) is a realistic CT.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.coding import Code
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from .dicom import CT_IMAGE_STORAGE, ENHANCED_CT_IMAGE_STORAGE

PATIENT_NAME = "PHANTOM^HPB"
STUDY_DATE = "20000101"

# label -> (name, HU). The first six are always segmented; IVC and gallbladder on request.
STRUCTURES: dict[int, tuple[str, float]] = {
    1: ("liver", 110.0),
    2: ("tumour", 45.0),
    3: ("portal vein", 175.0),
    4: ("hepatic veins", 160.0),
    5: ("pancreas", 100.0),
    6: ("bile ducts", 15.0),
    7: ("inferior vena cava", 150.0),
    8: ("gallbladder", 10.0),
}
_SIZES = {
    # (columns, rows, slices, pixel spacing mm, slice step mm)
    "small": (96, 96, 48, 3.75, 5.0),
    "full": (512, 512, 300, 0.78125, 1.0),
}


@dataclass(frozen=True)
class PhantomFiles:
    series_dir: Path
    segmentation_path: Path
    labels: dict[int, str]
    series_instance_uid: str
    study_instance_uid: str
    frame_of_reference_uid: str
    labels_json: Path | None = None


def phantom_uid(seed: int, *parts: object) -> str:
    """A deterministic ``2.25.`` UID (a name-based UUID) for ``parts`` of the phantom with this seed.

    (pydicom's ``generate_uid(prefix=None)`` ignores its entropy sources and is random.)
    """
    name = "/".join(["hpb-phantom", str(seed), *map(str, parts)])
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, name).int}"


# --------------------------------------------------------------------------------------- anatomy


class _Painter:
    """Paints primitives into a (z, y, x) class volume, touching only each primitive's bounding box."""

    def __init__(self, shape: tuple[int, int, int], origin: np.ndarray, spacing: np.ndarray) -> None:
        self.classes = np.zeros(shape, dtype=np.uint8)
        self.origin = origin  # world of voxel (0, 0, 0), x y z
        self.spacing = spacing  # x y z

    def _box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        i0 = np.floor((lo - self.origin) / self.spacing).astype(int)
        i1 = np.ceil((hi - self.origin) / self.spacing).astype(int) + 1
        nz, ny, nx = self.classes.shape
        i0 = np.maximum(i0, 0)
        i1 = np.minimum(i1, [nx, ny, nz])
        if np.any(i1 <= i0):
            return None
        return (slice(i0[2], i1[2]), slice(i0[1], i1[1]), slice(i0[0], i1[0]))

    def _coords(self, box: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        zs = self.origin[2] + self.spacing[2] * np.arange(box[0].start, box[0].stop)
        ys = self.origin[1] + self.spacing[1] * np.arange(box[1].start, box[1].stop)
        xs = self.origin[0] + self.spacing[0] * np.arange(box[2].start, box[2].stop)
        return zs[:, None, None], ys[None, :, None], xs[None, None, :]

    def ellipsoid(self, value: int, center: Sequence[float], radii: Sequence[float], within: int | None = None) -> None:
        c, r = np.asarray(center, float), np.asarray(radii, float)
        box = self._box(c - r, c + r)
        if box is None:
            return
        z, y, x = self._coords(box)
        inside = ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2 <= 1.0
        self._set(box, inside, value, within)

    def tube(
        self,
        value: int,
        points: Sequence[Sequence[float]],
        radii: Sequence[float] | float,
        within: int | None = None,
    ) -> None:
        """Capsules along a polyline; ``radii`` per point (linearly interpolated) or one value."""
        pts = np.asarray(points, float)
        rad = np.broadcast_to(np.asarray(radii, float), (len(pts),))
        for a, b, ra, rb in zip(pts[:-1], pts[1:], rad[:-1], rad[1:], strict=True):
            rmax = max(ra, rb)
            box = self._box(np.minimum(a, b) - rmax, np.maximum(a, b) + rmax)
            if box is None:
                continue
            z, y, x = self._coords(box)
            ab = b - a
            t = ((x - a[0]) * ab[0] + (y - a[1]) * ab[1] + (z - a[2]) * ab[2]) / float(ab @ ab)
            t = np.clip(t, 0.0, 1.0)
            d2 = (x - a[0] - t * ab[0]) ** 2 + (y - a[1] - t * ab[1]) ** 2 + (z - a[2] - t * ab[2]) ** 2
            self._set(box, d2 <= (ra + (rb - ra) * t) ** 2, value, within)

    def cylinder_z(
        self,
        value: int,
        center_xy: Sequence[float],
        radius: float,
        z_range: Sequence[float],
        within: int | None = None,
    ) -> None:
        self.tube(value, [(*center_xy, z_range[0]), (*center_xy, z_range[1])], radius, within)

    def _set(self, box: tuple[slice, slice, slice], inside: np.ndarray, value: int, within: int | None) -> None:
        region = self.classes[box]
        if within is not None:
            inside = inside & (region == within)
        region[inside] = value


# Tissue classes painted into the class volume; labels map onto STRUCTURES keys.
_AIR, _FAT, _SOFT, _BONE, _AORTA, _KIDNEY, _SPLEEN = 0, 20, 21, 22, 23, 24, 25
_CLASS_HU = {
    _AIR: -1000.0,
    _FAT: -100.0,
    _SOFT: 35.0,
    _BONE: 450.0,
    _AORTA: 185.0,
    _KIDNEY: 170.0,
    _SPLEEN: 120.0,
    **{label: hu for label, (_, hu) in STRUCTURES.items()},
}


def _paint_anatomy(p: _Painter, z_lo: float, z_hi: float, min_radius: float) -> None:
    def r(value: float) -> float:
        return max(value, min_radius)

    nz, ny, nx = p.classes.shape
    # Body: fat shell around soft tissue, the whole length of the scan.
    z = (z_lo - 10, z_hi + 10)
    p.classes[:] = _AIR
    ys = p.origin[1] + p.spacing[1] * np.arange(ny)
    xs = p.origin[0] + p.spacing[0] * np.arange(nx)
    outer = (xs[None, :] / 165.0) ** 2 + ((ys[:, None] - 10) / 120.0) ** 2 <= 1
    inner = (xs[None, :] / 152.0) ** 2 + ((ys[:, None] - 10) / 107.0) ** 2 <= 1
    p.classes[:, outer] = _FAT
    p.classes[:, inner] = _SOFT
    p.cylinder_z(_BONE, (0, 78), 19, z)
    p.cylinder_z(_AORTA, (14, 45), 11, z)
    p.ellipsoid(_KIDNEY, (-78, 62, -45), (30, 28, 55))
    p.ellipsoid(_KIDNEY, (78, 62, -50), (30, 28, 55))
    p.ellipsoid(_SPLEEN, (95, 45, 50), (33, 50, 58))
    # Liver: right and left lobes; the IVC runs through its back.
    p.ellipsoid(1, (-62, 8, 45), (68, 72, 66))
    p.ellipsoid(1, (18, -35, 68), (58, 42, 32))
    p.ellipsoid(8, (-42, -52, 12), (16, 18, 36))  # gallbladder under the liver
    p.cylinder_z(7, (-22, 42), r(12), (-110, 108))  # IVC
    p.ellipsoid(2, (-82, -2, 52), (19, 19, 19), within=1)  # tumour inside the right lobe
    # Pancreas: head by the duodenum, neck, body, tail towards the spleen.
    p.tube(5, [(-22, 8, -38), (0, -2, -22), (40, 14, -12), (84, 34, 4)], [r(16), r(11), r(10), r(8)])
    # Bile ducts: common bile duct through the pancreatic head up to the hilum, then two hepatic ducts.
    p.tube(6, [(-24, 4, -48), (-28, 2, 0), (-32, -4, 26)], r(4.0))
    p.tube(6, [(-32, -4, 26), (-62, -6, 40), (-88, -2, 50)], [r(3.2), r(2.6), r(2.0)])
    p.tube(6, [(-32, -4, 26), (-8, -16, 48), (16, -30, 62)], [r(3.2), r(2.6), r(2.0)])
    # Portal vein: confluence behind the pancreatic neck to the hilum, right and left branches.
    p.tube(3, [(6, 24, -30), (-14, 20, 0), (-30, 14, 28)], r(7.5))
    p.tube(3, [(-30, 14, 28), (-68, 12, 44), (-100, 22, 60)], [r(6.0), r(4.8), r(3.5)])
    p.tube(3, [(-30, 14, 28), (-2, -8, 54), (30, -34, 70)], [r(5.5), r(4.2), r(3.0)])
    # Hepatic veins: right, middle and left draining into the IVC below the diaphragm.
    top = (-22, 42, 98)
    p.tube(4, [(-112, 28, 40), (-70, 36, 72), top], [r(3.0), r(4.5), r(6.0)])
    p.tube(4, [(-48, -38, 32), (-36, 4, 70), top], [r(3.0), r(4.0), r(5.5)])
    p.tube(4, [(28, -34, 62), (2, 8, 84), top], [r(2.8), r(3.8), r(5.0)])


def build_phantom(
    size: Literal["small", "full"] = "small", *, extra_structures: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The phantom's class volume (z, y, x uint8), label volume, origin (x, y, z) and spacing.

    Labels 7 and 8 (IVC, gallbladder) are kept only with ``extra_structures``.
    """
    nx, ny, nz, ps, step = _SIZES[size]
    spacing = np.array([ps, ps, step])
    origin = np.array([-(nx - 1) * ps / 2.0, -(ny - 1) * ps / 2.0 + 10.0, -(nz - 1) * step / 2.0 + 10.0])
    painter = _Painter((nz, ny, nx), origin, spacing)
    z_lo, z_hi = origin[2], origin[2] + (nz - 1) * step
    _paint_anatomy(painter, z_lo, z_hi, min_radius=0.0 if size == "full" else max(ps, step) * 0.8)
    classes = painter.classes
    keep = np.zeros(256, dtype=np.uint8)
    for label in STRUCTURES:
        if label <= 6 or extra_structures:
            keep[label] = label
    labels = keep[classes]
    return classes, labels, origin, spacing


# --------------------------------------------------------------------------------------- DICOM


def _base_dataset(
    *,
    seed: int,
    study_uid: str,
    series_uid: str,
    for_uid: str,
    sop_class: str,
    sop_uid: str,
    series_number: int,
    description: str,
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "HPB_PHANTOM_1"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = UID(sop_uid)
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = STUDY_DATE
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "120000"
    ds.AccessionNumber = ""
    ds.Modality = "CT"
    ds.Manufacturer = "HPB case platform"
    ds.ManufacturerModelName = "Synthetic phantom"
    ds.SoftwareVersions = "1"
    ds.InstitutionName = "Synthetic"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Synthetic abdominal CT phantom"
    ds.SeriesDescription = description
    ds.PatientName = PATIENT_NAME
    ds.PatientID = f"PHANTOM-{seed:04d}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.PatientIdentityRemoved = "YES"
    ds.StudyInstanceUID = UID(study_uid)
    ds.SeriesInstanceUID = UID(series_uid)
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.FrameOfReferenceUID = UID(for_uid)
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    ds.BodyPartExamined = "ABDOMEN"
    ds.KVP = 120
    return ds


def _pixel_module(ds: Dataset, rows: int, columns: int, signed: bool) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0


def _stored(hu: np.ndarray, slope: float, intercept: float, signed: bool) -> np.ndarray:
    values = np.rint((hu - intercept) / slope)
    info = np.iinfo(np.int16 if signed else np.uint16)
    return np.clip(values, info.min, info.max).astype(np.int16 if signed else np.uint16)


def _ct_image(
    *,
    seed: int,
    uid_key: str,
    k: int,
    instance: int,
    position: Sequence[float],
    row: np.ndarray,
    col: np.ndarray,
    pixel_spacing: tuple[float, float],
    slice_step: float,
    slope: float,
    intercept: float,
    signed: bool,
    hu_slice: np.ndarray,
    extra: Mapping[str, object] | None,
    frame_of_reference_uid: str | None = None,
) -> Dataset:
    """One classic CT image (slice ``k`` of the series ``uid_key``) holding ``hu_slice``."""
    normal = np.cross(row, col)
    ds = _base_dataset(
        seed=seed,
        study_uid=phantom_uid(seed, uid_key, "study"),
        series_uid=phantom_uid(seed, uid_key, "series"),
        for_uid=frame_of_reference_uid or phantom_uid(seed, uid_key, "for"),
        sop_class=CT_IMAGE_STORAGE,
        sop_uid=phantom_uid(seed, uid_key, "image", k),
        series_number=1,
        description="Phantom abdomen portal venous",
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceNumber = instance
    ds.AcquisitionNumber = 1
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*row, *col)]
    ds.SliceLocation = f"{float(np.dot(position, normal)):.6f}"
    ds.SliceThickness = f"{abs(slice_step):g}"
    ds.PixelSpacing = [f"{pixel_spacing[0]:g}", f"{pixel_spacing[1]:g}"]
    _pixel_module(ds, hu_slice.shape[0], hu_slice.shape[1], signed)
    ds.RescaleIntercept = f"{intercept:g}"
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.PixelData = _stored(hu_slice, slope, intercept, signed).tobytes()
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    return ds


def write_ct_series(
    out_dir: Path,
    hu: np.ndarray,
    *,
    origin: Sequence[float],
    row_direction: Sequence[float] = (1.0, 0.0, 0.0),
    column_direction: Sequence[float] = (0.0, 1.0, 0.0),
    pixel_spacing: tuple[float, float] = (1.0, 1.0),
    slice_step: float = 1.0,
    positions: Sequence[Sequence[float]] | None = None,
    slope: float = 1.0,
    intercept: float = -1024.0,
    signed: bool = True,
    seed: int = 0,
    uid_key: str = "series",
    transfer_syntax: str = ExplicitVRLittleEndian,
    file_order: Literal["ascending", "descending", "shuffled"] = "descending",
    extra: Mapping[str, object] | None = None,
    frame_of_reference_uid: str | None = None,
) -> list[Path]:
    """Write ``hu`` (acquisition order: slice k, row j, column i) as a classic CT series.

    Slice k sits at ``origin + k * slice_step * normal`` (normal = row x column direction) unless
    ``positions`` gives each slice's ImagePositionPatient. ``pixel_spacing`` is DICOM's (between
    rows, between columns). Files are named by instance number, numbered in ``file_order``: the
    geometry, not the order, is what a reader must trust. Returns the paths in slice order k.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    nk = hu.shape[0]
    row = np.asarray(row_direction, float)
    col = np.asarray(column_direction, float)
    normal = np.cross(row, col)
    placed: Sequence[Sequence[float]] = (
        positions
        if positions is not None
        else [tuple(np.asarray(origin, float) + k * slice_step * normal) for k in range(nk)]
    )
    order = list(range(nk))
    if file_order == "descending":
        order.reverse()
    elif file_order == "shuffled":
        np.random.default_rng(seed).shuffle(order)
    paths: dict[int, Path] = {}
    for instance, k in enumerate(order, start=1):
        ds = _ct_image(
            seed=seed,
            uid_key=uid_key,
            k=k,
            instance=instance,
            position=placed[k],
            row=row,
            col=col,
            pixel_spacing=pixel_spacing,
            slice_step=slice_step,
            slope=slope,
            intercept=intercept,
            signed=signed,
            hu_slice=hu[k],
            extra=extra,
            frame_of_reference_uid=frame_of_reference_uid,
        )
        path = out_dir / f"CT{instance:04d}.dcm"
        if UID(transfer_syntax) == ImplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
            ds.save_as(path, enforce_file_format=True, implicit_vr=True, little_endian=True)
        else:
            if UID(transfer_syntax) != ExplicitVRLittleEndian:
                ds.compress(transfer_syntax, generate_instance_uid=False)
            ds.save_as(path, enforce_file_format=True)
        paths[k] = path
    return [paths[k] for k in range(nk)]


def write_enhanced_ct(
    path: Path,
    hu: np.ndarray,
    *,
    origin: Sequence[float],
    row_direction: Sequence[float] = (1.0, 0.0, 0.0),
    column_direction: Sequence[float] = (0.0, 1.0, 0.0),
    pixel_spacing: tuple[float, float] = (1.0, 1.0),
    slice_step: float = 1.0,
    slope: float = 1.0,
    intercept: float = -1024.0,
    seed: int = 0,
    uid_key: str = "enhanced",
    frame_order: Iterable[int] | None = None,
) -> Path:
    """Write ``hu`` (slice, row, column) as one Enhanced CT Image Storage object (multi-frame).

    ``frame_order`` lists which slice each stored frame holds (default: as given); the per-frame
    Plane Position says where it is, which is all a reader may rely on.
    """
    nk, nj, ni = hu.shape
    order = list(frame_order) if frame_order is not None else list(range(nk))
    row = np.asarray(row_direction, float)
    col = np.asarray(column_direction, float)
    normal = np.cross(row, col)
    ds = _base_dataset(
        seed=seed,
        study_uid=phantom_uid(seed, uid_key, "study"),
        series_uid=phantom_uid(seed, uid_key, "series"),
        for_uid=phantom_uid(seed, uid_key, "for"),
        sop_class=ENHANCED_CT_IMAGE_STORAGE,
        sop_uid=phantom_uid(seed, uid_key, "image"),
        series_number=2,
        description="Phantom enhanced CT",
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.InstanceNumber = 1
    ds.ContentQualification = "RESEARCH"
    ds.NumberOfFrames = len(order)
    _pixel_module(ds, nj, ni, True)
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [f"{pixel_spacing[0]:g}", f"{pixel_spacing[1]:g}"]
    measures.SliceThickness = f"{abs(slice_step):g}"
    shared.PixelMeasuresSequence = [measures]
    orient = Dataset()
    orient.ImageOrientationPatient = [f"{v:.6f}" for v in (*row, *col)]
    shared.PlaneOrientationSequence = [orient]
    transform = Dataset()
    transform.RescaleIntercept = f"{intercept:g}"
    transform.RescaleSlope = f"{slope:g}"
    transform.RescaleType = "HU"
    shared.PixelValueTransformationSequence = [transform]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for n, k in enumerate(order):
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [f"{v:.6f}" for v in np.asarray(origin, float) + k * slice_step * normal]
        item.PlanePositionSequence = [pos]
        content = Dataset()
        content.InStackPositionNumber = k + 1
        content.StackID = "1"
        content.FrameAcquisitionNumber = n + 1
        item.FrameContentSequence = [content]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.PixelData = np.stack([_stored(hu[k], slope, intercept, True) for k in order]).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


# --------------------------------------------------------------------------------------- segmentation


def _segment_codes() -> dict[int, tuple[Code, Code]]:
    from pydicom.sr.codedict import codes

    organ, vessel = codes.SCT.Organ, codes.SCT.BloodVessel
    abnormal = codes.SCT.MorphologicallyAbnormalStructure
    return {
        1: (organ, codes.SCT.Liver),
        2: (abnormal, codes.SCT.Neoplasm),
        3: (vessel, codes.SCT.PortalVein),
        4: (vessel, codes.SCT.HepaticVein),
        5: (organ, codes.SCT.Pancreas),
        6: (codes.SCT.AnatomicalStructure, codes.SCT.BileDuct),
        7: (vessel, codes.SCT.InferiorVenaCava),
        8: (organ, codes.SCT.Gallbladder),
    }


_HIGHDICOM_RANDOM_ROOT = "1.2.826.0.1.3680043.10.511."


def write_dicom_seg(
    path: Path,
    source_files: Sequence[Path],
    labels_zyx: np.ndarray,
    names: dict[int, str],
    *,
    seed: int = 0,
    uid_key: str = "seg",
) -> Path:
    """A binary DICOM SEG (highdicom) of ``labels_zyx``, whose slice k belongs to ``source_files[k]``."""
    import highdicom as hd

    sources = [pydicom.dcmread(p) for p in source_files]
    codes = _segment_codes()
    present = [int(v) for v in np.unique(labels_zyx) if v != 0]
    descriptions = []
    for number, label in enumerate(present, start=1):
        category, kind = codes.get(label, (codes[1][0], codes[1][1]))
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=names.get(label, f"label {label}"),
                segmented_property_category=category,
                segmented_property_type=kind,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            )
        )
    relabel = np.zeros(int(labels_zyx.max()) + 1, dtype=np.uint8)
    for number, label in enumerate(present, start=1):
        relabel[label] = number
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=relabel[labels_zyx],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=phantom_uid(seed, uid_key, "series"),
        series_number=100,
        sop_instance_uid=phantom_uid(seed, uid_key, "instance"),
        instance_number=1,
        manufacturer="HPB case platform",
        manufacturer_model_name="Synthetic phantom",
        software_versions="1",
        device_serial_number="0",
        content_label="PHANTOM",
        content_description="Phantom structures",
    )
    # highdicom stamps creation and content with "now"; a phantom must be the same on every run.
    for keyword in ("InstanceCreationDate", "ContentDate", "SeriesDate"):
        if keyword in seg:
            setattr(seg, keyword, STUDY_DATE)
    for keyword in ("InstanceCreationTime", "ContentTime", "SeriesTime"):
        if keyword in seg:
            setattr(seg, keyword, "120000")
    renamed: dict[str, str] = {}
    for element in seg.iterall():
        if element.VR == "DT" and element.value:  # e.g. ContributingEquipmentSequence's timestamp
            element.value = STUDY_DATE + "120000"
        elif element.VR == "UI" and str(element.value).startswith(_HIGHDICOM_RANDOM_ROOT):
            # Random UIDs highdicom makes up (DimensionOrganizationUID): derive them from the seed.
            value = str(element.value)
            renamed.setdefault(value, phantom_uid(seed, uid_key, "highdicom", len(renamed)))
            element.value = renamed[value]
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


def write_nifti_labels(
    path: Path,
    labels_zyx: np.ndarray,
    *,
    origin: Sequence[float] | np.ndarray,
    spacing: Sequence[float] | np.ndarray,
    names: dict[int, str],
) -> tuple[Path, Path]:
    """A NIfTI label map (RAS affine, as nibabel and most tools write) and its label->name JSON."""
    import nibabel as nib

    sx, sy, sz = spacing
    ox, oy, oz = origin
    # Index (i, j, k) -> LPS (ox + i sx, oy + j sy, oz + k sz); NIfTI wants RAS: negate x and y.
    affine = np.array([[-sx, 0, 0, -ox], [0, -sy, 0, -oy], [0, 0, sz, oz], [0, 0, 0, 1]], dtype=np.float64)
    img = nib.Nifti1Image(np.ascontiguousarray(labels_zyx.transpose(2, 1, 0)), affine)
    img.header.set_data_dtype(labels_zyx.dtype)
    img.header.set_xyzt_units("mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, path)
    json_path = path.with_name(path.name.split(".")[0] + ".labels.json")
    json_path.write_text(json.dumps({str(k): v for k, v in sorted(names.items())}, indent=2) + "\n")
    return path, json_path


def write_phantom(
    out_dir: Path,
    *,
    size: Literal["small", "full"] = "small",
    seed: int = 0,
    segmentation_format: Literal["seg", "nifti"] = "seg",
    extra_structures: bool = False,
    noise_hu: float = 10.0,
) -> PhantomFiles:
    """Write the phantom CT series (``out_dir/ct``) and its segmentation. Deterministic in ``seed``."""
    out_dir = Path(out_dir)
    classes, labels, origin, spacing = build_phantom(size, extra_structures=extra_structures)
    lut = np.zeros(256, dtype=np.float32)
    for value, hu in _CLASS_HU.items():
        lut[value] = hu
    rng = np.random.default_rng(seed)
    nz, ny, nx = classes.shape
    series_dir = out_dir / "ct"
    series_dir.mkdir(parents=True, exist_ok=True)
    # Slice by slice: the noise of the full phantom as float64 would need 600 MB at once.
    row, col = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    files: list[Path] = []  # in ascending z; scanners number head to feet, so instance = nz - k
    for k in range(nz):
        hu = lut[classes[k]] + rng.normal(0.0, noise_hu, size=(ny, nx)).astype(np.float32)
        ds = _ct_image(
            seed=seed,
            uid_key="phantom",
            k=k,
            instance=nz - k,
            position=(origin[0], origin[1], origin[2] + k * spacing[2]),
            row=row,
            col=col,
            pixel_spacing=(float(spacing[1]), float(spacing[0])),
            slice_step=float(spacing[2]),
            slope=1.0,
            intercept=-1024.0,
            signed=True,
            hu_slice=hu,
            extra=None,
        )
        path = series_dir / f"CT{nz - k:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    names = {label: STRUCTURES[label][0] for label in sorted(int(v) for v in np.unique(labels) if v)}
    study_uid = phantom_uid(seed, "phantom", "study")
    series_uid = phantom_uid(seed, "phantom", "series")
    for_uid = phantom_uid(seed, "phantom", "for")
    labels_json = None
    if segmentation_format == "seg":
        seg_path = write_dicom_seg(out_dir / "segmentation.dcm", files, labels, names, seed=seed)
    else:
        seg_path, labels_json = write_nifti_labels(
            out_dir / "segmentation.nii.gz", labels, origin=origin, spacing=spacing, names=names
        )
    return PhantomFiles(
        series_dir=series_dir,
        segmentation_path=seg_path,
        labels=names,
        series_instance_uid=series_uid,
        study_instance_uid=study_uid,
        frame_of_reference_uid=for_uid,
        labels_json=labels_json,
    )
