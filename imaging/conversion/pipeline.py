"""The one entry point the ingest service calls: DICOM (+ segmentation) in, VTK files out.

``convert`` runs the stages in order (extract, scan, read, volume, segmentation, meshes) and overlaps
the two slow, independent ones: the ``.vti`` is compressed and written on a background thread while
the segmentation is read and the meshes are built. It imports no Django; the service passes paths and
gets paths and JSON-ready metadata back.

Output files carry no patient information, in their names or in their content: ``volume.vti``, its
half-resolution level ``volume-preview.vti``, ``preview.png`` and ``structures/<slug of the structure
name>.vtp`` (plus ``<slug>.light.vtp`` for meshes over 100k triangles) under ``work_dir/output``.
Uploaded zips are extracted under ``work_dir/extracted`` and removed again at the end. On a refusal
the output folder is removed too, so nothing half-written is left to upload.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from . import colors, pydicom_warnings
from .archive import ExtractionBudget, gather_files
from .declared import HeaderCaps
from .dicom import ScanResult, SeriesInfo, SeriesPlan, Volume, choose_series, plan_series, read_volume, scan_files
from .errors import INTERRUPTIONS
from .meshes import Mesh, MeshSettings, build_meshes
from .segmentation import LabelMap, load_segmentation
from .volume import (
    DEFAULT_BLOCK_BYTES,
    BackgroundWriter,
    half_resolution,
    level_metadata,
    volume_metadata,
    write_preview,
    write_vti,
)

STAGES = ("extract", "scan", "read", "volume", "segmentation", "meshes")
# Rough share of the total time of each stage, for the overall progress fraction.
_WEIGHTS = {"extract": 0.05, "scan": 0.05, "read": 0.25, "volume": 0.05, "segmentation": 0.1, "meshes": 0.5}
PREVIEW_WINDOW = (40.0, 400.0)  # abdominal soft tissue: level, width
# The volume's levels (file names below the output folder, and below a study's prefix in storage).
FULL_LEVEL, PREVIEW_LEVEL = "full", "preview"
LEVEL_FILES = {FULL_LEVEL: "volume.vti", PREVIEW_LEVEL: "volume-preview.vti"}


@dataclass(frozen=True)
class Limits:
    max_volume_bytes: int = 2 * 1024**3
    max_archive_bytes: int = 4 * 1024**3
    max_archive_files: int = 20000
    min_slices: int = 3
    max_tilt_fraction: float = 0.25  # of a voxel, total drift across the stack
    # What one header may declare or cost before it is refused (``declared``).
    max_frames: int = 20_000  # frames in one file or one series
    max_header_bytes: int = 64 * 1024**2
    max_header_items: int = 50_000  # sequence items before the pixel data

    def header_caps(self) -> HeaderCaps:
        return HeaderCaps(
            max_header_bytes=self.max_header_bytes,
            max_header_items=self.max_header_items,
            max_frames=self.max_frames,
            max_inflated_bytes=self.max_volume_bytes,
        )


@dataclass
class StructureOutput:
    name: str
    label: int
    color_hex: str
    mesh_path: Path
    metadata: dict[str, Any]
    light_mesh_path: Path | None = None  # a lighter level, for meshes over 100k triangles


@dataclass
class ConversionResult:
    volume_path: Path
    preview_path: Path | None
    metadata: dict[str, Any]
    structures: list[StructureOutput]
    series_uid: str
    stage_seconds: dict[str, float]
    # The acquisition date and time, kept out of ``metadata`` on purpose (a date of service is an
    # identifier under HIPAA): the service decides whether to store it (ImagingStudy.acquired_at).
    acquired_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)
    # Every level of the volume by name ("full" is ``volume_path``, "preview" half its resolution).
    volume_levels: dict[str, Path] = field(default_factory=dict)


class _Stages:
    """Times stages and reports overall progress at each stage boundary."""

    def __init__(self, progress: Callable[[str, float], None] | None) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self.done = 0.0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress is not None:
            self.progress(name, round(min(self.done, 1.0), 4))
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.done += _WEIGHTS.get(name, 0.0)


@pydicom_warnings.logged_only()  # any SEG of the upload, readable or not
def _auto_segmentation(scan: ScanResult, frame_of_reference_uid: str | None) -> Path | None:
    """A DICOM SEG uploaded together with the CT and drawn on it, if there is one."""
    matches = []
    for path in sorted(scan.segmentations):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except INTERRUPTIONS:
            raise
        except Exception:  # noqa: BLE001, S112 - an unreadable SEG is simply not picked
            continue
        if frame_of_reference_uid and str(ds.get("FrameOfReferenceUID", "")) == frame_of_reference_uid:
            matches.append(path)
    return matches[0] if matches else None


def _versions() -> dict[str, str]:
    import highdicom
    import vtkmodules

    return {
        "pydicom": pydicom.__version__,
        "highdicom": highdicom.__version__,
        "vtk": getattr(vtkmodules, "__version__", "?"),
        "numpy": np.__version__,
    }


@dataclass
class _Source:
    """What extract, scan and read learnt of the upload: the chosen series and its volume."""

    scan: ScanResult
    series: SeriesInfo
    ignored_series: list[dict[str, Any]]
    plan: SeriesPlan
    volume: Volume


def _fresh_folders(work_dir: Path) -> tuple[Path, Path]:
    """The output and extraction folders, emptied: a re-run (or a run after a crash) starts clean."""
    out_dir = work_dir / "output"
    extract_dir = work_dir / "extracted"
    for stale in (out_dir, extract_dir):
        if stale.exists():
            shutil.rmtree(stale)
    out_dir.mkdir(parents=True)
    return out_dir, extract_dir


def _read_source(inputs: Sequence[Path], extract_dir: Path, limits: Limits, stages: _Stages) -> _Source:
    """Stages extract, scan and read: the upload's files, its CT series, checked, then its voxels."""
    with stages.stage("extract"):
        budget = ExtractionBudget(max_bytes=limits.max_archive_bytes, max_files=limits.max_archive_files)
        gathered = gather_files([Path(p) for p in inputs], extract_dir, budget)
    with stages.stage("scan"):
        scan = scan_files(gathered.files, caps=limits.header_caps())
        series, ignored_series = choose_series(scan)
        plan = plan_series(
            series,
            min_slices=limits.min_slices,
            max_tilt_fraction=limits.max_tilt_fraction,
            max_volume_bytes=limits.max_volume_bytes,
        )
    with stages.stage("read"):
        volume = read_volume(plan, max_volume_bytes=limits.max_volume_bytes)
    return _Source(scan=scan, series=series, ignored_series=ignored_series, plan=plan, volume=volume)


def _segmentation_for(segmentation: Path | None, source: _Source) -> tuple[Path | None, bool]:
    """The segmentation to read: the one given, else a SEG found in the upload; and whether it was found."""
    if segmentation is not None:
        return Path(segmentation), False
    found = _auto_segmentation(source.scan, source.series.frame_of_reference_uid)
    return found, found is not None


class _VolumeOutputs:
    """The ``.vti`` and the preview, written on a background thread while the meshes are built."""

    def __init__(self, volume: Volume, out_dir: Path, *, streamed: bool) -> None:
        self.volume_path = out_dir / LEVEL_FILES[FULL_LEVEL]
        self.level_path = out_dir / LEVEL_FILES[PREVIEW_LEVEL]
        self.preview_path = out_dir / "preview.png"
        self.seconds: float | None = None
        self._volume = volume
        # One deflate stream on the writer's thread while meshing runs; parallel blocks when alone.
        self._block_bytes = None if streamed else DEFAULT_BLOCK_BYTES
        self._writer: BackgroundWriter | None = BackgroundWriter(self._write)

    def _write(self) -> dict[str, Any]:
        start = time.perf_counter()
        volume = self._volume
        report = write_vti(
            self.volume_path,
            volume.array,
            volume.layout.grid,
            scalar_range=volume.scalar_range,
            block_bytes=self._block_bytes,
        )
        coarse, coarse_grid = half_resolution(volume.array, volume.layout.grid)
        write_vti(self.level_path, coarse, coarse_grid, scalar_range=volume.scalar_range, block_bytes=self._block_bytes)
        del coarse
        report["levels"] = [
            level_metadata(name=name, grid=grid, file=path.name, file_bytes=path.stat().st_size)
            for name, grid, path in (
                (FULL_LEVEL, volume.layout.grid, self.volume_path),
                (PREVIEW_LEVEL, coarse_grid, self.level_path),
            )
        ]
        width, height = write_preview(
            self.preview_path, volume.array, center=PREVIEW_WINDOW[0], width=PREVIEW_WINDOW[1]
        )
        report["preview"] = {
            "width": width,
            "height": height,
            "window_level": PREVIEW_WINDOW[0],
            "window_width": PREVIEW_WINDOW[1],
        }
        self.seconds = time.perf_counter() - start
        return report

    def finish(self, stages: _Stages) -> dict[str, Any]:
        """Wait for the writer; its report. The wait and the writer's own time go into ``stages``."""
        assert self._writer is not None, "finish() is called once"
        wait_start = time.perf_counter()
        report = self._writer.result()
        self._writer = None
        stages.seconds["volume_wait"] = time.perf_counter() - wait_start
        if self.seconds is not None:
            stages.seconds["volume"] = self.seconds
        return report

    def abandon(self) -> None:
        """After a failure elsewhere: let the writer end; the first error is the one to report."""
        if self._writer is not None:
            with suppress(BaseException):
                self._writer.result()
            self._writer = None


def _segment_and_mesh(
    seg_path: Path | None,
    source: _Source,
    labels: Mapping[int, str] | None,
    out_dir: Path,
    stages: _Stages,
    caps: HeaderCaps,
) -> tuple[LabelMap | None, list[StructureOutput]]:
    """Stages segmentation and meshes: the label map on the CT's grid, then one mesh per label."""
    grid = source.volume.layout.grid
    label_map: LabelMap | None = None
    with stages.stage("segmentation"):
        if seg_path is not None:
            label_map = load_segmentation(
                seg_path,
                grid=grid,
                frame_of_reference_uid=source.series.frame_of_reference_uid,
                labels=labels,
                caps=caps,
            )
    structures: list[StructureOutput] = []
    with stages.stage("meshes"):
        if label_map is not None:
            meshes = build_meshes(
                label_map.array, grid, label_map.names, out_dir / "structures", settings=MeshSettings()
            )
            structures = [_structure_output(mesh) for mesh in meshes]
            label_map.array = np.empty(0, dtype=np.uint8)  # free it before waiting for the writer
    return label_map, structures


def _structure_output(mesh: Mesh) -> StructureOutput:
    color = colors.color_for(mesh.name, mesh.label)
    return StructureOutput(
        name=mesh.name,
        label=mesh.label,
        color_hex=color,
        mesh_path=mesh.path,
        metadata={**mesh.metadata, "color_hex": color},
        light_mesh_path=mesh.light_path,
    )


def _study_metadata(
    source: _Source,
    vti_report: dict[str, Any],
    label_map: LabelMap | None,
    structures: list[StructureOutput],
    *,
    auto_detected: bool,
) -> dict[str, Any]:
    """The JSON-ready metadata of the study: the volume's, the outputs', what was left out, the labels."""
    series, plan, volume = source.series, source.plan, source.volume
    metadata = volume_metadata(
        grid=volume.layout.grid,
        oblique=volume.layout.oblique,
        scalar_range=volume.scalar_range,
        dtype=volume.array.dtype,
        modality=series.modality,
        series_instance_uid=series.uid,
        study_instance_uid=series.study_uid,
        frame_of_reference_uid=series.frame_of_reference_uid,
        slice_count=len(plan.frames),
        transfer_syntaxes=plan.transfer_syntaxes,
        slice_thickness=series.slice_thickness,
    )
    metadata["slice_step"] = abs(plan.slice_step)
    metadata["preview"] = vti_report.pop("preview")
    metadata["levels"] = vti_report.pop("levels")
    metadata["vti"] = vti_report
    metadata["ignored_series"] = source.ignored_series
    metadata["ignored_files"] = dict(sorted(source.scan.others.items()))
    metadata["warnings"] = source.plan.warnings + source.volume.warnings
    metadata["converter"] = _versions()
    if label_map is not None:
        metadata["segmentation"] = {
            **label_map.metadata,
            "auto_detected": auto_detected,
            "labels": {str(k): v for k, v in sorted(label_map.names.items())},
            "structures": [s.label for s in structures],
        }
    return metadata


def _warnings(source: _Source, label_map: LabelMap | None, structures: list[StructureOutput]) -> list[str]:
    """What a curator should know about a conversion that succeeded."""
    warnings = source.plan.warnings + source.volume.warnings
    if source.ignored_series:
        warnings.append(f"{len(source.ignored_series)} other image series in the upload were not converted.")
    if label_map is not None:
        missing = sorted(set(label_map.names) - {s.label for s in structures})
        if missing:
            warnings.append(f"Labels without any voxel on the CT: {missing}.")
    return warnings


def convert(
    *,
    inputs: Sequence[Path],
    work_dir: Path,
    segmentation: Path | None = None,
    labels: Mapping[int, str] | None = None,
    limits: Limits = Limits(),
    progress: Callable[[str, float], None] | None = None,
) -> ConversionResult:
    """Convert a CT series (files, folders or zips) and an optional segmentation into VTK files.

    ``progress(stage, fraction)`` is called when each stage starts, with the overall fraction of
    the work done so far (0..1, increasing), and once more at the end with ("meshes", 1.0).
    Raises IngestError (with a ``code``) for every input it refuses.
    """
    out_dir, extract_dir = _fresh_folders(Path(work_dir))
    stages = _Stages(progress)
    started = time.perf_counter()
    outputs: _VolumeOutputs | None = None
    try:
        source = _read_source(inputs, extract_dir, limits, stages)
        seg_path, auto_detected = _segmentation_for(segmentation, source)
        with stages.stage("volume"):
            outputs = _VolumeOutputs(source.volume, out_dir, streamed=seg_path is not None)
        label_map, structures = _segment_and_mesh(seg_path, source, labels, out_dir, stages, limits.header_caps())
        vti_report = outputs.finish(stages)
    except BaseException:
        if outputs is not None:
            outputs.abandon()
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(extract_dir, ignore_errors=True)
    stages.seconds["total"] = time.perf_counter() - started
    if progress is not None:
        progress("meshes", 1.0)
    return ConversionResult(
        volume_path=outputs.volume_path,
        preview_path=outputs.preview_path,
        metadata=_study_metadata(source, vti_report, label_map, structures, auto_detected=auto_detected),
        structures=structures,
        series_uid=source.series.uid,
        stage_seconds={k: round(v, 4) for k, v in stages.seconds.items()},
        acquired_at=source.series.acquired_at,
        warnings=_warnings(source, label_map, structures),
        volume_levels={FULL_LEVEL: outputs.volume_path, PREVIEW_LEVEL: outputs.level_path},
    )
