"""Storing documents: type detection, text extraction, keys without identifiers, replacement."""

import hashlib

import pytest
import requests
from django.db import transaction

from cases.models import Document
from cases.services import (
    DocumentFileError,
    extract_document,
    prepare_document_file,
    safe_filename,
    store_document_file,
)
from hpb import storage
from tests.factories import CaseFactory, PatientFactory
from tests.pdfs import make_blank_pdf, make_pdf

pytestmark = pytest.mark.django_db


def test_pdf_text_is_extracted_from_every_page():
    extracted = extract_document(content=make_pdf("Segment VII lesion of 3.1 cm.", pages=3), filename="x.pdf")
    assert extracted.mime_type == "application/pdf"
    assert extracted.details == {"extraction": "pdf", "pages": 3}
    for page in (1, 2, 3):
        assert f"Segment VII lesion of 3.1 cm. (page {page})" in extracted.full_text


def test_pdf_is_recognised_by_its_bytes_not_its_name():
    extracted = extract_document(content=make_pdf("Whipple operative note"), filename="note.txt")
    assert extracted.mime_type == "application/pdf"
    assert "Whipple operative note" in extracted.full_text


def test_scanned_pdf_is_accepted_without_text():
    extracted = extract_document(content=make_blank_pdf(), filename="scan.pdf")
    assert extracted.full_text == ""
    assert "not searchable" in extracted.details["note"]


@pytest.mark.parametrize(
    ("content", "encoding", "text"),
    [
        ("Résumé: Klatskin tumour".encode(), "utf-8", "Résumé: Klatskin tumour"),
        (b"\xef\xbb\xbfBOM first", "utf-8", "BOM first"),
        ("Naïve – cp1252 dash".encode("cp1252"), "cp1252", "Naïve – cp1252 dash"),
        (b"Latin-1 only \x81 byte", "latin-1", "Latin-1 only \x81 byte"),
        ("UTF-16 report".encode("utf-16"), "utf-16", "UTF-16 report"),
    ],
)
def test_text_is_decoded_with_fallbacks(content, encoding, text):
    extracted = extract_document(content=content, filename="report.txt")
    assert extracted.mime_type == "text/plain"
    assert extracted.details == {"extraction": "text", "encoding": encoding}
    assert extracted.full_text == text


def test_text_types_follow_the_extension():
    assert extract_document(content=b"a,b\n1,2", filename="labs.CSV").mime_type == "text/csv"
    assert extract_document(content=b"# Note", filename="note.md").mime_type == "text/markdown"
    assert extract_document(content=b"plain", filename="no-extension").mime_type == "text/plain"


def test_line_endings_and_nul_are_cleaned():
    assert extract_document(content=b"a\r\nb\rc", filename="x.txt").full_text == "a\nb\nc"


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "empty.txt", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "scan.png", "looks binary"),
        (b"PK\x03\x04\x14\x00\x06\x00", "letter.docx", "looks binary"),
        (b"<html><script>alert(1)</script></html>", "report.html", ".html files are not accepted"),
        (b"<svg onload=alert(1)>", "x.svg", ".svg files are not accepted"),
        (b"just text", "fake.pdf", "not a PDF"),
        (b"%PDF-1.7\n garbage that is not a pdf", "broken.pdf", "could not be read"),
    ],
)
def test_unusable_files_get_a_message_for_the_curator(content, filename, message):
    with pytest.raises(DocumentFileError, match=message):
        extract_document(content=content, filename=filename)


def test_too_large_files_are_refused(monkeypatch):
    monkeypatch.setattr("cases.services.documents.MAX_DOCUMENT_BYTES", 10)
    with pytest.raises(DocumentFileError, match="at most"):
        prepare_document_file(content=b"x" * 11, filename="big.txt")


@pytest.mark.parametrize(
    ("filename", "extension", "expected"),
    [
        ("CT Report (final).PDF", ".pdf", "ct-report-final.pdf"),
        ("C:\\scans\\MRCP Résumé.txt", ".txt", "mrcp-resume.txt"),
        ("../../etc/passwd", ".txt", "passwd.txt"),
        ("labs.log", ".txt", "labs.log.txt"),
        ("report.txt", ".pdf", "report.pdf"),  # a PDF misnamed .txt
        ("....pdf", ".pdf", "fallback.pdf"),
        ("", ".txt", "fallback.txt"),
    ],
)
def test_file_names_are_sanitised(filename, extension, expected):
    assert safe_filename(filename, extension=extension, fallback_stem="fallback") == expected


def test_file_names_never_carry_a_patient_identifier():
    patient = PatientFactory.create(mrn="SYN-004217", first_name="Maren", last_name="Quillfeather")
    for name in ("SYN-004217 ct.pdf", "syn004217.pdf", "ct_quillfeather.pdf", "Maren-report.pdf"):
        assert safe_filename(name, extension=".pdf", fallback_stem="doc-7", patients=[patient]) == "doc-7.pdf"
    assert (
        safe_filename("ct-report.pdf", extension=".pdf", fallback_stem="doc-7", patients=[patient]) == "ct-report.pdf"
    )


def test_store_document_file_writes_the_file_and_fills_the_row(local_storage):
    content = make_pdf("Hilar cholangiocarcinoma, Bismuth IIIa.")
    document = Document(slug="hilar-mdt", title="Tumour board")
    store_document_file(document=document, content=content, filename="Tumour Board.pdf")
    document.refresh_from_db()
    assert document.storage_uri == "storage://documents/documents/hilar-mdt/tumour-board.pdf"
    assert (local_storage / "documents/documents/hilar-mdt/tumour-board.pdf").read_bytes() == content
    assert document.mime_type == "application/pdf"
    assert "Bismuth IIIa" in document.full_text
    assert document.metadata == {
        "filename": "tumour-board.pdf",
        "size_bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "extraction": "pdf",
        "pages": 1,
    }


def test_store_document_file_uses_the_linked_patients_to_clean_the_name(local_storage):
    case = CaseFactory.create(patient__mrn="SYN-88", patient__last_name="Ambervale")
    document = Document.objects.create(slug="ambervale-letter", title="Letter", storage_uri="")
    document.cases.add(case)
    store_document_file(document=document, content=b"letter", filename="Ambervale SYN-88.txt")
    assert document.storage_uri == "storage://documents/documents/ambervale-letter/ambervale-letter.txt"
    assert document.metadata["filename"] == "ambervale-letter.txt"


def test_replacing_the_file_removes_the_old_one_after_commit(local_storage, django_capture_on_commit_callbacks):
    document = Document(slug="ct", title="CT")
    store_document_file(document=document, content=b"first", filename="first.txt")
    old = local_storage / "documents/documents/ct/first.txt"
    assert old.exists()
    with django_capture_on_commit_callbacks(execute=True):
        store_document_file(document=document, content=make_pdf("second"), filename="second.pdf")
    assert not old.exists()
    assert (local_storage / "documents/documents/ct/second.pdf").exists()
    assert document.metadata["filename"] == "second.pdf"
    assert "encoding" not in document.metadata  # stale extraction details do not linger


def test_same_file_again_keeps_the_same_key(local_storage, django_capture_on_commit_callbacks):
    document = Document(slug="labs", title="Labs")
    with django_capture_on_commit_callbacks(execute=True):
        store_document_file(document=document, content=b"a,b\n1,2\n", filename="labs.csv")
        store_document_file(document=document, content=b"a,b\n1,3\n", filename="labs.csv")
    assert [p.name for p in (local_storage / "documents/documents/labs").iterdir()] == ["labs.csv"]
    assert document.full_text == "a,b\n1,3"


def test_a_taken_slug_never_overwrites_the_other_document_file(local_storage):
    first = Document(slug="shared", title="First")
    store_document_file(document=first, content=b"original", filename="report.txt")
    with pytest.raises(DocumentFileError, match="already uses the slug"), transaction.atomic():
        store_document_file(
            document=Document(slug="shared", title="Second"), content=b"intruder", filename="report.txt"
        )
    assert (local_storage / "documents/documents/shared/report.txt").read_bytes() == b"original"


def test_documents_go_to_s3_when_configured(s3_storages, s3_client):
    document = Document(slug="s3-doc", title="On S3")
    store_document_file(document=document, content=make_pdf("pancreatic head mass"), filename="ct.pdf")
    assert document.storage_uri == f"s3://{s3_storages['documents']}/documents/s3-doc/ct.pdf"
    body = s3_client.get_object(Bucket=s3_storages["documents"], Key="documents/s3-doc/ct.pdf")["Body"].read()
    assert body.startswith(b"%PDF-")
    url = storage.signed_url(document.storage_uri)
    assert url is not None
    assert requests.get(url, timeout=10).content == body
