"""The documents of a bundle: every one as a PDF (the viewer shows only PDFs), without file metadata.

Text and CSV documents are typeset by `bundles_pdf` (title, then the text; CSV in a fixed-width font so
its columns line up). Uploaded PDFs are rewritten page by page with pypdf, which leaves their document
information (author, title, creator) and XMP metadata behind: those often carry a clinician's or
patient's name, or the original file name, that the curator never saw on the page.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pypdf import PdfReader, PdfWriter

from imaging.services.bundles_pdf import text_pdf

PDF = "application/pdf"
TEXT_TYPES = {"text/plain", "text/markdown", "text/x-markdown"}
CSV_TYPES = {"text/csv", "application/csv"}
RENDERER_VERSION = "bundle-pdf-2"  # part of a rendered file's name: a new renderer gives new names


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
        return text_pdf(title=title, text=_decode(data), monospace=base in CSV_TYPES)
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
