"""The documents of a bundle: every one as a PDF (the viewer shows only PDFs), without file metadata.

Text and CSV documents are typeset with fpdf2 (title, then the text; CSV in a fixed-width font so its
columns line up). Uploaded PDFs are rewritten page by page with pypdf, which leaves their document
information (author, title, creator) and XMP metadata behind: those often carry a clinician's or
patient's name, or the original file name, that the curator never saw on the page.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass

from fpdf import FPDF
from fpdf.enums import WrapMode
from pypdf import PdfReader, PdfWriter

PDF = "application/pdf"
TEXT_TYPES = {"text/plain", "text/markdown", "text/x-markdown"}
CSV_TYPES = {"text/csv", "application/csv"}
RENDERER_VERSION = "bundle-pdf-1"
_FIXED_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # part of a rendered file's name: a new renderer gives new names


class DocumentNotPublishableError(Exception):
    """A document that cannot become a clean PDF; the message says why (it names no patient)."""


@dataclass(frozen=True)
class RenderedDocument:
    data: bytes
    text: str  # what the PDF says, for the identifier check


def publishable_type(mime_type: str) -> bool:
    base = mime_type.split(";")[0].strip().lower()
    return base == PDF or base in TEXT_TYPES or base in CSV_TYPES


def as_pdf(*, data: bytes, mime_type: str, title: str) -> bytes:
    """The document's bytes as a PDF fit to leave the platform."""
    base = mime_type.split(";")[0].strip().lower()
    if base == PDF:
        return _clean_pdf(data)
    if base in TEXT_TYPES or base in CSV_TYPES:
        return _typeset(_decode(data), title=title, monospace=base in CSV_TYPES)
    raise DocumentNotPublishableError(
        f"Documents of type {base or 'unknown'} are not published (PDF, text and CSV are)."
    )


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _latin1(text: str) -> str:
    """fpdf2's core fonts are Latin-1: typographic characters are mapped, anything else becomes '?'."""
    table = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-", "\u2022": "*"}
    text = "".join(table.get(ch, ch) for ch in text).replace("\t", "    ")
    return text.encode("latin-1", "replace").decode("latin-1")


def _typeset(text: str, *, title: str, monospace: bool) -> bytes:
    pdf = FPDF(format="A4")
    # A fixed date: no date of service or of the rendering in the file, and the same text gives the same bytes.
    pdf.set_creation_date(_FIXED_DATE)
    pdf.set_creator("HPB case platform")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 7, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    if monospace:
        pdf.set_font("Courier", "", 8)
        height = 4.0
    else:
        pdf.set_font("Helvetica", "", 10)
        height = 5.0
    for line in re.split(r"\r\n|\r|\n", text.rstrip()):
        pdf.multi_cell(0, height, _latin1(line) or " ", new_x="LMARGIN", new_y="NEXT", wrapmode=WrapMode.CHAR)
    return bytes(pdf.output())


def _clean_pdf(data: bytes) -> bytes:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentNotPublishableError("The PDF is encrypted; upload it without a password to publish it.")
        writer = PdfWriter()
        for page in reader.pages:
            writer.add_page(page)
        writer.add_metadata({"/Producer": "HPB case platform"})
        out = io.BytesIO()
        writer.write(out)
    except DocumentNotPublishableError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types for a damaged file
        raise DocumentNotPublishableError(
            f"The PDF could not be read ({type(exc).__name__}); upload it again."
        ) from None
    return out.getvalue()
