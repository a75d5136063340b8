"""The one exception the conversion library raises for input it refuses.

The ingest job shows ``message`` to a curator, so every message names the series or file at fault,
what is wrong in numbers, and what to do about it. ``code`` is a stable, machine-readable reason
(the job, the admin and the tests branch on it; never parse the message).
"""

from __future__ import annotations


class IngestError(Exception):
    """A refusal of the input: bad, unsafe, unsupported or too large.

    Anything else that escapes the library (a ``TypeError``, an ``AssertionError``) is a bug in the
    library, not in the upload, and is deliberately *not* wrapped so that it reaches the logs.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"IngestError(code={self.code!r}, message={self.message!r})"


try:  # Celery's soft time limit raises this (an Exception subclass) inside whatever code is running.
    from billiard.exceptions import SoftTimeLimitExceeded as _SoftTimeLimitExceeded

    INTERRUPTIONS: tuple[type[BaseException], ...] = (_SoftTimeLimitExceeded,)
except ImportError:  # pragma: no cover - the library used without Celery installed
    INTERRUPTIONS = ()
"""Exceptions that stop a conversion from outside and must pass through every broad `except`.

The library catches `Exception` where bad bytes can raise anything; without this, a time limit
firing during the scan would be recorded as one damaged file and the job would carry on.
"""
