"""`manage.py seed_hpb`: content, idempotency (rows and files), determinism, and storage on S3."""

import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from annotations.models import Annotation
from cases.models import Case, Document, Encounter, Patient
from imaging.models import CaseStructure, ImagingStudy
from seed.plan import plan_case, plan_collection
from seed.scenarios import SCENARIOS

pytestmark = pytest.mark.django_db


def run_seed(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_hpb", *args, stdout=out, stderr=err)
    return out.getvalue()


def files_under(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def row_counts() -> dict[str, int]:
    models = (Patient, Encounter, Case, Document, Document.cases.through, ImagingStudy, CaseStructure, Annotation)
    return {model._meta.label: model.objects.count() for model in models}


def _encounter(case: Case) -> Encounter:
    assert case.encounter is not None, case.slug  # every seeded case has one
    return case.encounter


def content_snapshot() -> dict:
    """Everything the seed decides, without database ids or update timestamps."""
    return {
        "patients": sorted(
            Patient.objects.values_list("mrn", "first_name", "last_name", "date_of_birth", "sex", "notes")
        ),
        "encounters": sorted(
            Encounter.objects.values_list(
                "patient__mrn", "encounter_type", "started_at", "ended_at", "facility", "attending"
            )
        ),
        "cases": sorted(
            (
                c.patient.mrn,
                c.slug,
                c.title,
                c.focus,
                c.clinical_summary,
                tuple(c.tags),
                c.status,
                c.lightweight,
                c.created_at,
                _encounter(c).encounter_type,
                c.specialty,
            )
            for c in Case.objects.select_related("patient", "encounter")
        ),
        "documents": sorted(
            (
                d.slug,
                d.title,
                d.summary,
                d.mime_type,
                d.storage_uri,
                json.dumps(d.metadata, sort_keys=True),
                d.full_text,
                d.created_at,
                tuple(sorted(c.slug for c in d.cases.all())),
            )
            for d in Document.objects.prefetch_related("cases")
        ),
    }


def wipe(root: Path) -> None:
    Annotation.objects.all().delete()
    Case.objects.all().delete()
    Document.objects.all().delete()
    Patient.objects.all().delete()
    for path in sorted(root.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()


def test_default_seed_builds_a_varied_fictional_collection(local_storage):
    output = run_seed()
    assert "Seeded 8 synthetic cases (seed 0): 6 published, 1 draft, 1 archived; 3 lightweight" in output
    cases = list(Case.objects.select_related("patient", "encounter").prefetch_related("documents"))
    assert len(cases) == 8
    assert len({case.slug.rsplit("-", 1)[0] for case in cases}) == len(SCENARIOS) >= 6
    statuses = [case.status for case in cases]
    assert statuses.count("published") > len(cases) / 2
    assert "draft" in statuses
    assert 0 < sum(case.lightweight for case in cases) < len(cases)
    for case in cases:
        assert case.specialty == "HPB"
        assert "Fictional case" in case.clinical_summary
        assert len(case.clinical_summary) > 300
        assert "synthetic" in case.tags
        assert len(case.tags) >= 4
        assert "Not a real person" in case.patient.notes
        assert case.patient.mrn.startswith("SYN-")
        assert case.encounter is not None
        assert case.encounter.encounter_type == "surgery"
        assert case.encounter.patient_id == case.patient_id
        assert case.patient.encounters.count() == 5
        documents = list(case.documents.all())
        assert 2 <= len(documents) <= 4
        types = {d.mime_type for d in documents}
        assert "application/pdf" in types
        assert types & {"text/plain", "text/csv"}
        for document in documents:
            path = local_storage / "documents" / document.storage_uri.removeprefix("storage://documents/")
            assert hashlib.sha256(path.read_bytes()).hexdigest() == document.metadata["sha256"]
            assert document.full_text
            assert "fictional" in document.full_text.lower()


def test_pdf_documents_have_their_text_extracted(local_storage):
    run_seed("--cases", "2")
    pdfs = Document.objects.filter(mime_type="application/pdf")
    assert pdfs.count() >= 2
    for document in pdfs:
        assert document.metadata["extraction"] == "pdf"
        assert "SYNTHETIC DOCUMENT" in document.full_text
        assert document.title.split(" ")[0] in document.full_text


def test_running_twice_leaves_the_same_rows_and_files(local_storage):
    run_seed()
    counts, files, content = row_counts(), files_under(local_storage), content_snapshot()
    ids = sorted(Case.objects.values_list("pk", flat=True))
    run_seed()
    assert row_counts() == counts
    assert files_under(local_storage) == files
    assert content_snapshot() == content
    assert sorted(Case.objects.values_list("pk", flat=True)) == ids  # updated in place, not re-created
    assert len(files) == counts["cases.Document"]


def test_same_seed_gives_the_same_content_and_other_seeds_differ(local_storage):
    run_seed("--cases", "4")
    first, first_files = content_snapshot(), files_under(local_storage)
    wipe(local_storage)
    run_seed("--cases", "4", "--seed", "0")
    assert content_snapshot() == first
    assert files_under(local_storage) == first_files
    wipe(local_storage)
    run_seed("--cases", "4", "--seed", "1")
    other = content_snapshot()
    assert other != first
    assert not {p[0] for p in other["patients"]} & {p[0] for p in first["patients"]}
    assert [c[2] for c in other["cases"]] != [c[2] for c in first["cases"]]


def test_another_seed_adds_its_own_patients_beside_the_first(local_storage):
    run_seed("--cases", "2")
    run_seed("--cases", "2", "--seed", "5")
    assert Patient.objects.count() == 4
    assert Patient.objects.filter(mrn__startswith="SYN-S5-").count() == 2


def test_plans_are_pure_and_prefix_stable():
    assert plan_case(seed=3, index=5) == plan_case(seed=3, index=5)
    assert plan_collection(seed=0, cases=3) == plan_collection(seed=0, cases=8)[:3]
    assert plan_case(seed=0, index=0) != plan_case(seed=1, index=0)
    many = plan_collection(seed=0, cases=20)
    assert len({p.slug for p in many}) == 20
    assert len({d.slug for p in many for d in p.documents}) == sum(len(p.documents) for p in many)


def test_storage_keys_carry_no_patient_identifier(local_storage):
    run_seed()
    keys = [str(p.relative_to(local_storage)).lower() for p in local_storage.rglob("*") if p.is_file()]
    for patient in Patient.objects.all():
        for identifier in (patient.mrn, patient.first_name, patient.last_name):
            assert not any(identifier.lower() in key for key in keys), identifier
    for document in Document.objects.all():
        assert not any(
            str(v).lower() in document.storage_uri.lower() for v in Patient.objects.values_list("mrn", flat=True)
        )


def test_seed_writes_documents_to_s3_when_configured(s3_storages, s3_client):
    run_seed("--cases", "2")
    bucket = s3_storages["documents"]
    keys = {obj["Key"] for obj in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
    documents = Document.objects.all()
    assert {d.storage_uri for d in documents} == {f"s3://{bucket}/{key}" for key in keys}
    run_seed("--cases", "2")
    assert {obj["Key"] for obj in s3_client.list_objects_v2(Bucket=bucket)["Contents"]} == keys


@pytest.mark.parametrize("args", [("--cases", "-1"), ("--cases", "501"), ("--seed", "-3"), ("--cases", "many")])
def test_bad_options_are_refused(args):
    with pytest.raises(CommandError):
        call_command("seed_hpb", *args, stdout=io.StringIO(), stderr=io.StringIO())


def test_zero_cases_only_ensures_the_demo_curator(local_storage):
    output = run_seed("--cases", "0")
    assert "Seeded 0 synthetic cases" in output
    assert not Case.objects.exists()
    assert re.search(r"generated password: \S+", output)


def test_extend_case_is_called_once_per_case(local_storage, monkeypatch):
    from seed.management.commands.seed_hpb import Command

    seen = []
    monkeypatch.setattr(Command, "extend_case", lambda self, seeded, options: seen.append(seeded.case.slug))
    run_seed("--cases", "3")
    assert seen == [p.slug for p in plan_collection(seed=0, cases=3)]
