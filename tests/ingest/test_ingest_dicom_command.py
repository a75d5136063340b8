"""`manage.py ingest_dicom`: local files in, exit status and output out."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from imaging.models import CaseStructure, ImagingStudy, IngestJob
from tests.factories import CaseFactory
from tests.ingest.conftest import stored_keys

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("ingest_dicom", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        # As the interpreter would: None is success, a message is failure.
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        return code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_a_folder_and_its_segmentation_are_ingested_and_printed_as_json(case, phantom):
    labels = json.dumps({"1": "liver", "2": "tumour", "3": "portal vein", "4": "hepatic veins", "5": "pancreas"})
    code, out, err = run(
        str(phantom.series_dir),
        "--case",
        case.slug,
        "--segmentation",
        str(phantom.segmentation_path),
        "--labels",
        labels,
        "--json",
    )

    assert (code, err) == (0, "")
    report = json.loads(out)
    job = IngestJob.objects.get()
    assert report["job"]["id"] == job.pk
    assert report["job"]["status"] == "succeeded"
    assert report["job"]["source"] == "local"
    assert [s["id"] for s in report["studies"]] == [ImagingStudy.objects.get().pk]
    assert {s["name"] for s in report["structures"]} == set(CaseStructure.objects.values_list("name", flat=True))
    assert report["studies"][0]["volume_uri"].endswith("/volume.vti")


def test_a_zip_with_a_labels_file_prints_a_summary(case, phantom_nifti, tmp_path):
    labels_file = tmp_path / "labels.json"
    labels_file.write_text(json.dumps({"1": "Liver"}))
    code, out, _ = run(
        str(phantom_nifti.series_dir),
        "--case",
        case.slug,
        "--segmentation",
        str(phantom_nifti.segmentation_path),
        "--labels",
        str(labels_file),
    )
    assert code == 0
    assert out.startswith(f"Job {IngestJob.objects.get().pk} succeeded: study ")
    assert "Liver" in CaseStructure.objects.values_list("name", flat=True)


def test_a_failed_job_exits_1_with_its_error_on_stderr(case, tmp_path):
    not_dicom = tmp_path / "notes.txt"
    not_dicom.write_text("no pixels here")

    code, out, err = run(str(not_dicom), "--case", case.slug, "--json")

    job = IngestJob.objects.get()
    assert code == 1
    assert job.status == IngestJob.Status.FAILED
    assert err.strip() == f"Job {job.pk} failed ({job.error_code}): {job.error}"
    assert json.loads(out)["job"]["status"] == "failed"
    assert stored_keys("uploads") == [f"{job.source_key}part-0001.txt"]


def test_an_ambiguous_slug_needs_the_patient(phantom):
    first = CaseFactory.create(slug="whipple", patient__mrn="MRN-1")
    CaseFactory.create(slug="whipple", patient__mrn="MRN-2")

    with pytest.raises(CommandError, match="--patient"):
        call_command("ingest_dicom", str(phantom.series_dir), "--case", "whipple")
    code, _, _ = run(str(phantom.series_dir), "--case", "whipple", "--patient", "MRN-1")

    assert code == 0
    assert ImagingStudy.objects.get().case == first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--case", "no-such-case"], "No case"),
        (["--labels", "{not json"], "--labels"),
        (["--labels", '{"0": "background"}'], "not positive"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_stored(case, phantom, args, message):
    if "--case" not in args:
        args += ["--case", case.slug]
    with pytest.raises(CommandError, match=message):
        call_command("ingest_dicom", str(phantom.series_dir), *args)
    assert not IngestJob.objects.exists()
    assert stored_keys("uploads") == []


def test_a_missing_path_is_refused(case, tmp_path):
    with pytest.raises(CommandError, match="neither a file nor a folder"):
        call_command("ingest_dicom", str(tmp_path / "nope"), "--case", case.slug)
