"""Which failures are worth retrying: the storage or the database hiccuped, the input is fine.

Everything else (a refused input, a bug) fails the job at once: retrying would only repeat it.
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from django.db import InterfaceError, OperationalError

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "InternalError",
    }
)

TRANSIENT_NETWORK_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)


def is_transient(exc: BaseException) -> bool:
    """True for connection failures, 5xx and throttling from S3, and lost database connections."""
    if isinstance(exc, TRANSIENT_NETWORK_ERRORS + TRANSIENT_DATABASE_ERRORS):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or status == 429 or error.get("Code") in _THROTTLING_CODES
    return False
