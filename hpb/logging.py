"""Log hygiene: no patient identifier may reach a log line, whatever the formatter.

Our own code never logs names, MRNs or dates of birth; this filter is the second line of defence for
what frameworks attach to records: Django's `request` (whose query string may carry a search for a
patient's name) is reduced to method and path, and extra fields or dict arguments named like patient
identifiers or credentials are replaced by a marker.
"""

import logging
from typing import Any

REDACTED = "[redacted]"
SENSITIVE_KEYS = frozenset(
    {
        "mrn",
        "first_name",
        "last_name",
        "date_of_birth",
        "patient_name",
        "patient_id",
        "patientname",
        "patientid",
        "patientbirthdate",
        "accession_number",
        "accessionnumber",
        "password",
        "token",
        "authorization",
        "cookie",
        "signature",
    }
)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in SENSITIVE_KEYS else _scrub(v) for k, v in value.items()}
    return value


class PatientDataFilter(logging.Filter):
    """Strip query strings from attached requests and redact identifier-named fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            record.request = f"{getattr(request, 'method', '')} {request.path}"
        for key in list(vars(record)):
            if key.lower() in SENSITIVE_KEYS:
                setattr(record, key, REDACTED)
        if isinstance(record.args, dict):
            record.args = _scrub(record.args)
        return True
