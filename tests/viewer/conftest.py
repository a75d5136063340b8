"""Fixtures of the viewer-bundle tests: a published case with real imaging (the phantom, ingested) and
documents of every kind, on the filesystem storages or on moto's S3 over HTTP."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from pytest_django.fixtures import Settings

from cases.models import Case, Document, Patient
from hpb import storage
from imaging.services.seeding import seed_case_imaging
from tests.factories import CaseFactory, PatientFactory

MRN = "MRN-77340"
FIRST, LAST = "Perpetua", "Quillfeather"
BORN = dt.date(1951, 3, 14)


@dataclass
class BundleCase:
    case: Case
    patient: Patient
    documents: dict[str, Document]  # by role: text, csv, pdf, private, leaky


def identifying_pdf() -> bytes:
    """A PDF whose page is clean but whose file metadata names the patient (as uploads often do)."""
    pdf = FPDF()
    pdf.set_author(f"{FIRST} {LAST}")
    pdf.set_title(f"{LAST}_{MRN}_operative_note.docx")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, "Operative note: right hepatectomy, uneventful.")
    return bytes(pdf.output())


def _document(case: Case, role: str, *, mime_type: str, data: bytes, text: str, deidentified: bool = True) -> Document:
    slug = f"{role}-{uuid.uuid4().hex[:6]}"
    extension = {"text/plain": "txt", "text/csv": "csv", "application/pdf": "pdf"}[mime_type]
    reference = storage.save("documents", f"documents/{slug}.{extension}", io.BytesIO(data))
    document = Document.objects.create(
        slug=slug,
        title={"text": "Imaging report", "csv": "Laboratory results", "pdf": "Operative note"}.get(role, role.title()),
        summary=f"Synthetic {role} document.",
        mime_type=mime_type,
        storage_uri=reference,
        full_text=text,
        deidentified=deidentified,
    )
    document.cases.add(case)
    return document


def make_bundle_case(*, imaging: bool = True, status: str = Case.Status.PUBLISHED, mrn: str = MRN) -> BundleCase:
    patient = PatientFactory.create(mrn=mrn, first_name=FIRST, last_name=LAST, date_of_birth=BORN)
    case = CaseFactory.create(
        patient=patient, slug="right-hepatectomy", title="Right hepatectomy for colorectal metastases", status=status
    )
    if imaging:
        seed_case_imaging(case=case, size="small", seed=11)
    report = "CT abdomen: segment VII lesion, 3.1 cm, abutting the right hepatic vein."
    documents = {
        "text": _document(case, "text", mime_type="text/plain", data=report.encode(), text=report),
        "csv": _document(
            case,
            "csv",
            mime_type="text/csv",
            data=b"test,value,unit\nbilirubin,12,umol/L\nalbumin,41,g/L\n",
            text="test value unit bilirubin 12 umol/L albumin 41 g/L",
        ),
        "pdf": _document(
            case, "pdf", mime_type="application/pdf", data=identifying_pdf(), text="Operative note: right hepatectomy"
        ),
        "private": _document(
            case,
            "private",
            mime_type="text/plain",
            data=b"Not reviewed yet.",
            text="Not reviewed yet.",
            deidentified=False,
        ),
        "leaky": _document(
            case, "leaky", mime_type="text/plain", data=f"Referral for {MRN}".encode(), text=f"Referral for {MRN}"
        ),
    }
    return BundleCase(case=case, patient=patient, documents=documents)


@pytest.fixture
def viewer_local(settings: Settings, tmp_path: Path) -> Path:
    """Every storage, the viewer's included, in a folder of this test's own."""
    from hpb.settings_helpers import build_storages

    root = tmp_path / "storage"
    storages = build_storages(buckets={}, root=root, region="us-east-1", endpoint_url=None, expiry_seconds=900)
    storages["staticfiles"] = settings.STORAGES["staticfiles"]
    settings.STORAGES = storages
    settings.STORAGE_ROOT = root
    return root


@pytest.fixture
def viewer_s3(settings: Settings, moto_server: str, s3_client: Any) -> dict[str, str]:
    """Every storage on moto's S3; the viewer bucket readable anonymously like production's (policy)."""
    from hpb.settings_helpers import build_storages

    suffix = uuid.uuid4().hex[:8]
    buckets = {alias: f"hpb-{alias}-{suffix}" for alias in ("documents", "assets", "uploads", "viewer")}
    for bucket in buckets.values():
        s3_client.create_bucket(Bucket=bucket)
    storages = build_storages(
        buckets=buckets, root=settings.STORAGE_ROOT, region="us-east-1", endpoint_url=moto_server, expiry_seconds=900
    )
    storages["staticfiles"] = settings.STORAGES["staticfiles"]
    settings.STORAGES = storages
    settings.S3_BUCKETS = buckets
    return buckets


@pytest.fixture
def bundle_case(db: None, viewer_local: Path) -> BundleCase:
    return make_bundle_case()
