"""The PDFs of a bundle: text and CSV typeset by bundles_pdf, uploaded PDFs rewritten without metadata,
and documents that cannot become a clean PDF left out with a reason."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from pypdf import PdfReader

from imaging.models import ViewerBundle
from imaging.services import bundles, bundles_documents
from imaging.services.bundles_pdf import text_pdf
from tests.viewer.conftest import BundleCase, _document


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_text_is_wrapped_paged_escaped_and_the_same_every_time() -> None:
    line = "Segment VII lesion (3.1 cm) abutting the right hepatic vein; see C:\\scans\\ct. " * 3
    data = text_pdf(title="Imaging report", text="\n".join([line] * 120) + "\nÜber 5 µmol/L – “ok”")

    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) > 3  # long enough to need several pages
    text = _text(data)
    assert text.startswith("Imaging report")
    assert "(3.1 cm)" in text and "C:\\scans\\ct." in text and "Über 5 µmol/L – “ok”" in text
    widest = max(len(t) for page in reader.pages for t in page.extract_text().splitlines())
    assert widest < len(line)  # wrapped to the page, not one line per input line
    assert data == text_pdf(title="Imaging report", text="\n".join([line] * 120) + "\nÜber 5 µmol/L – “ok”")
    assert {str(k): str(v) for k, v in (reader.metadata or {}).items()} == {"/Producer": "HPB case platform"}


def test_csv_is_typeset_in_a_fixed_width_font() -> None:
    data = bundles_documents.as_pdf(data=b"test,value,unit\nbilirubin,12,umol/L\n", mime_type="text/csv", title="Labs")

    assert b"/BaseFont /Courier" in data and "bilirubin,12,umol/L" in _text(data)


def test_other_types_and_broken_pdfs_are_refused_with_a_reason() -> None:
    with pytest.raises(bundles_documents.DocumentNotPublishableError, match="image/png are not published"):
        bundles_documents.as_pdf(data=b"\x89PNG", mime_type="image/png", title="x")
    with pytest.raises(bundles_documents.DocumentNotPublishableError, match="could not be read"):
        bundles_documents.as_pdf(data=b"%PDF-1.4 broken", mime_type="application/pdf", title="x")


def test_a_broken_pdf_is_left_out_of_the_bundle_and_said_so(bundle_case: BundleCase, viewer_local: Any) -> None:
    broken = _document(bundle_case.case, "broken", mime_type="application/pdf", data=b"%PDF-1.4 no", text="")

    outcome = bundles.sync_bundle(case_id=bundle_case.case.pk)

    row = ViewerBundle.objects.get(case=bundle_case.case)
    assert outcome.action == "published"
    assert {
        "item": f"document {broken.pk}",
        "reason": "The PDF could not be read (PdfStreamError); upload it again.",
    } in (row.withheld)
    assert broken.title not in json.dumps(row.manifest)
    assert "3 de-identified documents" in row.manifest["metadata"]["notes"]
