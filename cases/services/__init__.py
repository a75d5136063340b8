"""Work on cases and documents that touches storage or several models; shared by the admin, API and seed."""

from cases.services.documents import (
    MAX_DOCUMENT_BYTES,
    PreparedDocumentFile,
    document_key,
    prepare_document_file,
    safe_filename,
    store_document_file,
)
from cases.services.extraction import DocumentFileError, ExtractedDocument, extract_document
from cases.services.publishing import StatusChange, archive_cases, publish_cases, set_case_status
from cases.services.tags import all_tags, filter_cases_by_tag

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "DocumentFileError",
    "ExtractedDocument",
    "PreparedDocumentFile",
    "StatusChange",
    "all_tags",
    "archive_cases",
    "document_key",
    "extract_document",
    "filter_cases_by_tag",
    "prepare_document_file",
    "publish_cases",
    "safe_filename",
    "set_case_status",
    "store_document_file",
]
