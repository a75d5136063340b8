"""Recognise an uploaded clinical document and pull its text out, for search.

Plain Python over pypdf (no Django import) so it can be tested alone. Only PDF and plain-text
files are accepted: they are what the viewer can show safely, and the stored file's extension is
forced to match what the bytes really are, so the local file view never serves, say, HTML as a
"document".
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import PurePath

from pypdf import PdfReader
from pypdf.errors import PyPdfError

logger = logging.getLogger(__name__)

PDF_MIME_TYPE = "application/pdf"
# Text types we accept, by the extension the curator gave; anything else that decodes as text is text/plain.
TEXT_MIME_TYPES = {".txt": "text/plain", ".text": "text/plain", ".md": "text/markdown", ".csv": "text/csv"}
# The extension a stored file gets for each accepted type.
EXTENSION_FOR_MIME_TYPE = {PDF_MIME_TYPE: ".pdf", "text/plain": ".txt", "text/markdown": ".md", "text/csv": ".csv"}
# Text encodings tried in order: UTF-8 (with or without BOM), then the usual Windows export, then Latin-1,
# which decodes any byte string and so always ends the search.
TEXT_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
# Extensions that are never accepted even when the bytes happen to decode as text: a browser would run them.
ACTIVE_CONTENT_EXTENSIONS = {".html", ".htm", ".xhtml", ".svg", ".js", ".mjs", ".xml", ".xsl"}
MAX_PDF_PAGES = 2000


class DocumentFileError(ValueError):
    """An upload that cannot become a document; the message tells the curator what to do."""


@dataclass(frozen=True)
class ExtractedDocument:
    """What the bytes are and what they say."""

    mime_type: str
    full_text: str
    details: dict = field(default_factory=dict)

    @property
    def extension(self) -> str:
        return EXTENSION_FOR_MIME_TYPE[self.mime_type]


def extract_document(*, content: bytes, filename: str) -> ExtractedDocument:
    """Detect the type of `content` from its bytes (and, for text, the name's extension) and extract its text.

    Raises DocumentFileError for empty files, unreadable PDFs and files that are neither PDF nor text.
    A PDF without a text layer (a scan) is accepted with an empty text and a note in `details`.
    """
    if not content:
        raise DocumentFileError("The file is empty.")
    suffix = PurePath(filename).suffix.lower()
    if content.lstrip(b"\r\n\t \x0c")[:5] == b"%PDF-":
        return _extract_pdf(content)
    if suffix == ".pdf":
        raise DocumentFileError("The file is named .pdf but is not a PDF (it does not start with %PDF-).")
    if suffix in ACTIVE_CONTENT_EXTENSIONS:
        raise DocumentFileError(
            f"{suffix} files are not accepted; upload a PDF or a plain-text file (.txt, .md, .csv)."
        )
    if not _looks_like_text(content):
        raise DocumentFileError(
            "Only PDF and plain-text files (.txt, .md, .csv) are accepted; this file looks binary "
            "(export it to PDF first)."
        )
    text, encoding = decode_text(content)
    mime_type = TEXT_MIME_TYPES.get(suffix, "text/plain")
    return ExtractedDocument(
        mime_type=mime_type, full_text=_clean(text), details={"extraction": "text", "encoding": encoding}
    )


def decode_text(content: bytes) -> tuple[str, str]:
    """Decode text bytes: UTF-16 when a BOM says so, else UTF-8, then cp1252, then Latin-1."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16"), "utf-16"
    for encoding in TEXT_ENCODINGS:
        try:
            return content.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def _looks_like_text(content: bytes) -> bool:
    """NUL bytes (outside UTF-16) or many control characters mean a binary file."""
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    sample = content[:8192]
    if b"\x00" in sample:
        return False
    control = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return control <= len(sample) // 100


def _extract_pdf(content: bytes) -> ExtractedDocument:
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise DocumentFileError("The PDF is encrypted; upload an unprotected copy.")
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise DocumentFileError(f"The PDF has {len(pages)} pages; at most {MAX_PDF_PAGES} are accepted.")
        texts = [page.extract_text() or "" for page in pages]
    except DocumentFileError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        logger.info("Unreadable PDF upload: %s", type(exc).__name__)
        raise DocumentFileError(
            "The PDF could not be read (it may be damaged); export it again and re-upload."
        ) from exc
    full_text = _clean("\n\n".join(texts))
    details: dict = {"extraction": "pdf", "pages": len(texts)}
    if not full_text:
        details["note"] = "No text layer found (a scanned PDF?): the document is stored but not searchable."
    return ExtractedDocument(mime_type=PDF_MIME_TYPE, full_text=full_text, details=details)


def _clean(text: str) -> str:
    """PostgreSQL text cannot hold NUL; normalise line endings and trim."""
    return text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").strip()
