"""``convert`` end to end: outputs, progress, zips, several series, refusals and clean-up."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imaging.conversion.errors import IngestError
from imaging.conversion.phantom import PhantomFiles, build_phantom, write_phantom
from imaging.conversion.pipeline import STAGES, Limits, convert
from tests.imaging.helpers import DICOMDIR_TESTS, read_vti


def test_phantom_end_to_end(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    calls: list[tuple[str, float]] = []
    result = convert(
        inputs=[small_phantom.series_dir],
        work_dir=tmp_path,
        segmentation=small_phantom.segmentation_path,
        progress=lambda s, f: calls.append((s, f)),
    )
    assert [s for s, _ in calls[:-1]] == list(STAGES)
    assert calls[-1] == ("meshes", 1.0)
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0
    assert set(STAGES) | {"total"} <= set(result.stage_seconds)
    out = tmp_path / "output"
    assert result.volume_path == out / "volume.vti" and result.preview_path == out / "preview.png"
    assert sorted(p.name for p in (out / "structures").iterdir()) == [
        "bile-ducts.vtp",
        "hepatic-veins.vtp",
        "liver.vtp",
        "pancreas.vtp",
        "portal-vein.vtp",
        "tumour.vtp",
    ]
    assert not (tmp_path / "extracted").exists()
    assert result.series_uid == small_phantom.series_instance_uid
    meta = result.metadata
    assert meta["dimensions"] == [96, 96, 48] and meta["spacing"] == [3.75, 3.75, 5.0]
    assert meta["segmentation"]["format"] == "dicom-seg"
    assert meta["segmentation"]["labels"] == {str(k): v for k, v in small_phantom.labels.items()}
    _, values = read_vti(result.volume_path)
    _, labels, _, _ = build_phantom("small")
    assert 90 < values[labels == 1].mean() < 130  # the liver where the labels say
    assert {s.name: s.color_hex for s in result.structures}["liver"] == "#b5654a"


def test_nifti_with_labels_argument(tmp_path: Path, small_phantom_nifti: PhantomFiles) -> None:
    names = {1: "Liver", 2: "HCC", 3: "PV", 4: "hepatic veins", 5: "pancreas", 6: "CBD"}
    result = convert(
        inputs=[small_phantom_nifti.series_dir],
        work_dir=tmp_path,
        segmentation=small_phantom_nifti.segmentation_path,
        labels=names,
    )
    assert [s.name for s in result.structures] == list(names.values())
    assert [s.mesh_path.name for s in result.structures] == [
        "liver.vtp",
        "hcc.vtp",
        "pv.vtp",
        "hepatic-veins.vtp",
        "pancreas.vtp",
        "cbd.vtp",
    ]
    assert result.metadata["segmentation"]["format"] == "nifti"


def test_zip_upload_with_junk_and_the_seg_inside(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(small_phantom.series_dir.iterdir()):
            zf.write(path, f"PATIENT/STUDY/SERIES/{path.name}")
        zf.write(small_phantom.segmentation_path, "PATIENT/SEG/seg.dcm")
        zf.writestr("PATIENT/readme.txt", "exported by a PACS")
        zf.writestr(".DS_Store", b"\0\0\0\1Bud1")
        zf.writestr("__MACOSX/PATIENT/._readme.txt", b"junk")
    result = convert(inputs=[archive], work_dir=tmp_path / "work")
    assert len(result.structures) == 6
    assert result.metadata["segmentation"]["auto_detected"] is True
    assert result.metadata["ignored_files"] == {
        "DICOM SEG segmentations": 1,
        "non-DICOM files (.txt)": 1,
        "non-DICOM files (no extension)": 1,
    }
    assert not (tmp_path / "work" / "extracted").exists()


def test_several_series_pick_the_longest(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    result = convert(inputs=[DICOMDIR_TESTS / "98892001", small_phantom.series_dir], work_dir=tmp_path)
    assert result.series_uid == small_phantom.series_instance_uid
    ignored = {i["series_instance_uid"]: i for i in result.metadata["ignored_series"]}
    assert ignored["1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.6"]["frames"] == 5  # CT5N
    assert ignored["1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.2"]["kind"] == "CT localizer images"
    assert result.structures == []  # no segmentation of this series in the upload
    assert result.warnings


def test_refusal_leaves_nothing_behind(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    other = write_phantom(tmp_path / "other", size="small", seed=3)  # another frame of reference
    work = tmp_path / "work"
    with pytest.raises(IngestError) as err:
        convert(inputs=[small_phantom.series_dir], work_dir=work, segmentation=other.segmentation_path)
    assert err.value.code == "frame_of_reference_mismatch"
    assert not (work / "output").exists() and not (work / "extracted").exists()


def test_leftovers_of_a_crashed_run_do_not_matter(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(small_phantom.series_dir.iterdir()):
            zf.write(path, f"series/{path.name}")
    work = tmp_path / "work"
    (work / "extracted" / "archive-000" / "series").mkdir(parents=True)
    (work / "extracted" / "archive-000" / "series" / "CT0001.dcm").write_bytes(b"half written")
    (work / "output" / "structures").mkdir(parents=True)
    (work / "output" / "structures" / "old.vtp").write_bytes(b"stale")
    result = convert(inputs=[archive], work_dir=work)
    assert result.metadata["slice_count"] == 48
    assert not (work / "output" / "structures" / "old.vtp").exists()


def test_rerun_replaces_outputs(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    seg = small_phantom.segmentation_path
    convert(inputs=[small_phantom.series_dir], work_dir=tmp_path, segmentation=seg, labels={2: "HCC"})
    assert (tmp_path / "output" / "structures" / "hcc.vtp").exists()
    convert(inputs=[small_phantom.series_dir], work_dir=tmp_path, segmentation=seg)
    names = sorted(p.name for p in (tmp_path / "output" / "structures").iterdir())
    assert "hcc.vtp" not in names and "tumour.vtp" in names


def test_bad_bytes_become_ingest_errors(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    series = tmp_path / "series"
    shutil.copytree(small_phantom.series_dir, series)
    victim = sorted(series.iterdir())[20]
    victim.write_bytes(victim.read_bytes()[:-5000])  # cut inside the pixel data
    with pytest.raises(IngestError) as err:
        convert(inputs=[series], work_dir=tmp_path / "work")
    assert err.value.code == "corrupt_pixel_data"
    assert victim.name in err.value.message
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "random.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(IngestError) as err:
        convert(inputs=[tmp_path / "junk"], work_dir=tmp_path / "work2")
    assert err.value.code == "no_image_series"


def test_limits_are_applied(tmp_path: Path, small_phantom: PhantomFiles) -> None:
    with pytest.raises(IngestError) as err:
        convert(inputs=[small_phantom.series_dir], work_dir=tmp_path, limits=Limits(max_volume_bytes=100_000))
    assert err.value.code == "volume_too_large"
    with pytest.raises(IngestError) as err:
        convert(inputs=[small_phantom.series_dir], work_dir=tmp_path, limits=Limits(max_archive_files=10))
    assert err.value.code == "too_many_files"
    with pytest.raises(IngestError) as err:
        convert(inputs=[small_phantom.series_dir], work_dir=tmp_path, limits=Limits(min_slices=100))
    assert err.value.code == "too_few_slices"


def test_oblique_ct_with_seg_puts_the_mesh_where_the_ct_says(tmp_path: Path) -> None:
    """End to end on a 30-degree oblique acquisition: the mesh of a labelled ball must sit on the
    ball's voxels as DICOM places them, not where an ignored direction matrix would put them."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXML import vtkXMLPolyDataReader

    from imaging.conversion.phantom import write_ct_series, write_dicom_seg

    angle = np.radians(30)
    row, col = (np.cos(angle), np.sin(angle), 0.0), (-np.sin(angle), np.cos(angle), 0.0)
    shape = (14, 24, 22)
    origin, spacing, step = (40.0, -25.0, 10.0), (1.0, 0.8), 1.5
    k, j, i = np.ogrid[: shape[0], : shape[1], : shape[2]]
    ball = ((k - 7) * step) ** 2 + ((j - 12) * spacing[0]) ** 2 + ((i - 9) * spacing[1]) ** 2 <= 5.0**2
    hu = np.where(ball, 60.0, -100.0).astype(np.float32)
    paths = write_ct_series(
        tmp_path / "ct",
        hu,
        origin=origin,
        row_direction=row,
        column_direction=col,
        pixel_spacing=spacing,
        slice_step=step,
        file_order="shuffled",
    )
    write_dicom_seg(tmp_path / "seg.dcm", paths, ball.astype(np.uint8), {1: "tumour"})
    result = convert(inputs=[tmp_path / "ct"], work_dir=tmp_path / "work", segmentation=tmp_path / "seg.dcm")
    assert result.metadata["oblique"] is True
    assert result.metadata["segmentation"]["frames_placed_directly"] is True
    (structure,) = result.structures
    reader = vtkXMLPolyDataReader()
    reader.SetFileName(str(structure.mesh_path))
    reader.Update()
    points = vtk_to_numpy(reader.GetOutput().GetPoints().GetData()).astype(np.float64)
    kk, jj, ii = np.nonzero(ball)
    normal = np.cross(row, col)
    world = (
        np.asarray(origin)
        + np.outer(ii * spacing[1], row)
        + np.outer(jj * spacing[0], col)
        + np.outer(kk * step, normal)
    )
    np.testing.assert_allclose(points.mean(axis=0), world.mean(axis=0), atol=0.3)
    radii = np.linalg.norm(points - world.mean(axis=0), axis=1)
    assert 4.0 < radii.mean() < 6.0
    assert structure.metadata["mesh_volume_ml"] == pytest.approx(structure.metadata["volume_ml"], rel=0.05)


@pytest.mark.parametrize("stage", ["scan", "segmentation"])
def test_a_soft_time_limit_passes_through_the_broad_excepts(
    tmp_path: Path, small_phantom: PhantomFiles, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """Celery's soft limit must end the conversion, not be filed as a damaged file or a bad SEG."""
    from billiard.exceptions import SoftTimeLimitExceeded

    real_dcmread = pydicom.dcmread
    seg_name = small_phantom.segmentation_path.name

    def dcmread(source, *args, **kwargs):
        reading_seg = str(getattr(source, "name", source)).endswith(seg_name)
        if (stage == "segmentation") == reading_seg:
            raise SoftTimeLimitExceeded()
        return real_dcmread(source, *args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", dcmread)
    with pytest.raises(SoftTimeLimitExceeded):
        convert(inputs=[small_phantom.series_dir], work_dir=tmp_path, segmentation=small_phantom.segmentation_path)
