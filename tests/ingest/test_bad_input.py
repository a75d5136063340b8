"""Bad uploads end the job as failed with the library's message; nothing is lost, nothing is left."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from imaging.conversion.phantom import PhantomFiles
from imaging.models import CaseStructure, ImagingStudy, IngestJob
from imaging.services.jobs import ingest_local_paths
from imaging.tasks import run_ingest_job
from tests.ingest.conftest import pydicom_test_file, stored_keys, zip_bytes

pytestmark = pytest.mark.django_db


def _truncated_series(phantom: PhantomFiles, folder: Path) -> Path:
    folder.mkdir()
    files = sorted(phantom.series_dir.iterdir())
    for file in files:
        (folder / file.name).write_bytes(file.read_bytes())
    victim = folder / files[len(files) // 2].name
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # cut in the pixel data
    return folder


def _zip_bomb(folder: Path) -> Path:
    path = folder / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ct/0001.dcm", b"\0" * (8 * 1024 * 1024))  # 8 MiB of zeros: ~8 KiB compressed
    return path


def _traversal(folder: Path) -> Path:
    path = folder / "traversal.zip"
    path.write_bytes(zip_bytes({"ct/0001.dcm": b"x", "../../../etc/cron.d/evil": b"* * * * * root rm -rf /"}))
    return path


def _many_files(folder: Path) -> Path:
    path = folder / "many.zip"
    path.write_bytes(zip_bytes({f"ct/{i:04d}.dcm": b"x" for i in range(50)}))
    return path


def _not_dicom(folder: Path) -> Path:
    path = folder / "report.pdf"
    path.write_bytes(b"%PDF-1.4\n% not a DICOM file at all\n")
    return path


BAD_INPUTS = {
    "not_dicom": (_not_dicom, {"no_image_series"}),
    "zip_bomb": (_zip_bomb, {"archive_too_large"}),
    "path_traversal": (_traversal, {"archive_unsafe_path"}),
    "too_many_files": (_many_files, {"too_many_files"}),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_upload_fails_the_job_and_keeps_the_upload(kind, case, tmp_path, settings):
    settings.INGEST_MAX_ARCHIVE_BYTES = 1024 * 1024
    settings.INGEST_MAX_ARCHIVE_FILES = 20
    make, codes = BAD_INPUTS[kind]
    source = make(tmp_path)
    job = ingest_local_paths(case=case, paths=[source], enqueue=False)

    run_ingest_job.apply(args=(job.pk,))  # the task as a worker runs it
    job.refresh_from_db()

    assert job.status == IngestJob.Status.FAILED
    assert job.error_code in codes
    assert len(job.error) > 20  # a sentence for the curator, not a bare code
    assert job.attempts == 1  # a refused input is never retried
    assert not ImagingStudy.objects.exists()
    assert not CaseStructure.objects.exists()
    assert stored_keys("assets") == []
    assert [k.rsplit("/", 1)[1] for k in stored_keys("uploads")] == [f"part-0001{Path(source.name).suffix}"]
    assert not (tmp_path.parent / "etc").exists()


def test_a_truncated_file_fails_the_job(case, phantom, tmp_path):
    job = ingest_local_paths(case=case, paths=[_truncated_series(phantom, tmp_path / "ct")], enqueue=False)

    run_ingest_job.apply(args=(job.pk,))
    job.refresh_from_db()

    assert job.status == IngestJob.Status.FAILED
    assert job.error_code not in ("", "internal_error")
    assert not ImagingStudy.objects.exists()
    assert stored_keys("assets") == []


def test_a_segmentation_on_another_ct_fails_with_the_librarys_message(case, phantom, tmp_path):
    job = ingest_local_paths(
        case=case,
        paths=[phantom.series_dir],
        segmentation=pydicom_test_file("CT_small.dcm"),  # DICOM, but not a segmentation of this CT
        enqueue=False,
    )
    run_ingest_job.apply(args=(job.pk,))
    job.refresh_from_db()

    assert job.status == IngestJob.Status.FAILED
    assert job.error_code.startswith("segmentation") or job.error_code == "frame_of_reference_mismatch"
    assert not ImagingStudy.objects.exists()
    assert stored_keys("assets") == []
