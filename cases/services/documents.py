"""Store a clinical document's file in the documents storage and keep its row in step.

The admin upload, the API and `seed_hpb` all come through here, so every stored document has the same
key layout (`documents/<document slug>/<file name>`), metadata (size, SHA-256, original type) and
extracted `full_text`. Keys never carry a patient identifier: the file name is sanitised and any
name or MRN of a patient of the document's cases is replaced by the document slug.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO

from django.db import transaction
from django.utils.text import slugify

from cases.models import Document, Patient
from cases.services.extraction import DocumentFileError, ExtractedDocument, extract_document
from hpb import storage

logger = logging.getLogger(__name__)

DOCUMENTS_STORAGE = "documents"
KEY_PREFIX = "documents"
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
MAX_FILENAME_STEM = 80


@dataclass(frozen=True)
class PreparedDocumentFile:
    """A checked upload, ready to store: its bytes, the name it came with, its type, text and checksum."""

    content: bytes
    requested_filename: str
    extracted: ExtractedDocument
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)


def prepare_document_file(*, content: bytes | IO[bytes], filename: str) -> PreparedDocumentFile:
    """Read, type-check and extract an upload without storing anything (forms call this to validate).

    Raises DocumentFileError with a message for the curator when the file cannot be a document.
    """
    data = _read_bytes(content)
    extracted = extract_document(content=data, filename=filename)
    return PreparedDocumentFile(
        content=data, requested_filename=filename, extracted=extracted, sha256=hashlib.sha256(data).hexdigest()
    )


def document_key(*, slug: str, filename: str) -> str:
    """The storage key of a document's file: one folder per document, named by its slug."""
    return f"{KEY_PREFIX}/{slug}/{filename}"


@transaction.atomic
def store_document_file(
    *,
    document: Document,
    content: bytes | IO[bytes] | PreparedDocumentFile,
    filename: str = "",
    patients: Iterable[Patient] | None = None,
) -> Document:
    """Write the file under the document's key, fill mime type, metadata and full_text, and save the row.

    `document` may be unsaved (it is saved here). Writing the same bytes under the same name again
    overwrites the same key, which is what makes seeding idempotent. When the key changes (a new file
    name or slug), the previous file is deleted once the transaction commits, so a failed save never
    loses the file the row still points at.
    """
    if not document.slug:
        raise DocumentFileError("The document needs a slug before its file can be stored.")
    if Document.objects.filter(slug=document.slug).exclude(pk=document.pk).exists():
        # Checked before writing: the key is derived from the slug, so writing first would overwrite the other file.
        raise DocumentFileError(f"Another document already uses the slug {document.slug!r}; choose another.")
    prepared = (
        content
        if isinstance(content, PreparedDocumentFile)
        else prepare_document_file(content=content, filename=filename)
    )
    if patients is None:
        patients = _patients_of(document)
    safe_name = safe_filename(
        prepared.requested_filename,
        extension=prepared.extracted.extension,
        fallback_stem=document.slug,
        patients=patients,
    )
    key = document_key(slug=document.slug, filename=safe_name)
    previous = document.storage_uri
    reference = storage.save(DOCUMENTS_STORAGE, key, prepared.content)

    document.storage_uri = reference
    document.mime_type = prepared.extracted.mime_type
    document.full_text = prepared.extracted.full_text
    document.metadata = {
        **{k: v for k, v in (document.metadata or {}).items() if k not in _FILE_METADATA_KEYS},
        "filename": safe_name,
        "size_bytes": prepared.size,
        "sha256": prepared.sha256,
        **prepared.extracted.details,
    }
    document.save()
    if previous and previous != reference:
        transaction.on_commit(lambda: _delete_quietly(previous))
    logger.debug("Stored document %s (%s, %d bytes).", document.pk, document.mime_type, prepared.size)
    return document


_FILE_METADATA_KEYS = {"filename", "size_bytes", "sha256", "extraction", "encoding", "pages", "note"}


def safe_filename(
    filename: str,
    *,
    extension: str,
    fallback_stem: str = "document",
    patients: Iterable[Patient] = (),
) -> str:
    """A lower-case ASCII file name with the given extension, free of the patients' identifiers.

    The directory part of an uploaded name is dropped (browsers may send `C:\\scans\\x.pdf`), accents
    are folded, anything outside [a-z0-9._-] becomes a hyphen, and a stem that names a patient (MRN,
    first or last name) is replaced by `fallback_stem`.
    """
    base = re.split(r"[\\/]", filename or "")[-1]
    stem = PurePath(base).stem if PurePath(base).suffix.lower() in {extension, *_KNOWN_SUFFIXES} else base
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii").lower()
    stem = re.sub(r"[^a-z0-9._-]+", "-", stem).strip("-._")[:MAX_FILENAME_STEM].strip("-._")
    if not stem or _names_a_patient(stem, patients):
        stem = slugify(fallback_stem)[:MAX_FILENAME_STEM] or "document"
    return f"{stem}{extension}"


_KNOWN_SUFFIXES = {".pdf", ".txt", ".text", ".md", ".csv"}


def _names_a_patient(stem: str, patients: Iterable[Patient]) -> bool:
    tokens = set(re.split(r"[^a-z0-9]+", stem))
    compact = re.sub(r"[^a-z0-9]", "", stem)
    for patient in patients:
        mrn = re.sub(r"[^a-z0-9]", "", (patient.mrn or "").lower())
        if mrn and mrn in compact:
            return True
        for name in (patient.first_name, patient.last_name):
            folded = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii").lower()
            parts = [p for p in re.split(r"[^a-z0-9]+", folded) if len(p) >= 2]
            if any(part in tokens for part in parts):
                return True
    return False


def _patients_of(document: Document) -> list[Patient]:
    if not document.pk:
        return []
    return list(Patient.objects.filter(cases__documents=document).distinct())


def _read_bytes(content: bytes | IO[bytes]) -> bytes:
    if isinstance(content, bytes | bytearray):
        data = bytes(content)
    else:
        size = getattr(content, "size", None)
        if isinstance(size, int) and size > MAX_DOCUMENT_BYTES:
            raise DocumentFileError(_too_large(size))
        if hasattr(content, "seek"):
            content.seek(0)
        data = content.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentFileError(_too_large(len(data)))
    return data


def _too_large(size: int) -> str:
    return f"The file is {size / 1e6:.1f} MB; documents may be at most {MAX_DOCUMENT_BYTES / 1e6:.0f} MB."


def _delete_quietly(reference: str) -> None:
    try:
        storage.delete(reference)
    except Exception:  # noqa: BLE001 - a stale file is harmless; the row already points at the new one
        logger.warning("Could not delete a replaced document file.", exc_info=True)
