"""One JSON error format for everything under /api/, whichever layer produced the error.

Body: `{"detail": "<readable message>", "code": "<machine code>"}`, plus `"errors": {field: [messages]}`
for validation failures. Three layers produce it:

- `api_exception_handler` (DRF's EXCEPTION_HANDLER) for everything raised in an API view, including
  unexpected exceptions, which are logged and answered with a bare 500 (never a stack trace);
- `handler400/403/404/500` (Django's error handlers, wired in config/urls.py) for errors outside DRF,
  e.g. an unmatched URL or a malformed id that no path converter accepts;
- `hpb.api.middleware.APIErrorJSONMiddleware`, a safety net that rewrites any remaining non-JSON
  error under /api/ (the DEBUG pages, CSRF failures, 405s of plain Django views).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from rest_framework import exceptions
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from hpb.api.parsers import RequestTooLarge

API_PATH_PREFIX = "/api/"
# Django's own logger for failed requests, so existing handlers (mail_admins, Sentry) still see them.
request_logger = logging.getLogger("django.request")


def is_api_request(request: HttpRequest) -> bool:
    return (request.path_info or "").startswith(API_PATH_PREFIX)


def default_code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def default_message(status: int) -> str:
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return "Error."


def error_body(detail: str, code: str, errors: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    """Readable "field: message" lines from DRF's nested validation errors."""
    if isinstance(errors, Mapping):
        lines = []
        for key, value in errors.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            lines += _flatten(value, f"{prefix}.{name}" if prefix and name else (name or prefix))
        return lines
    if isinstance(errors, list | tuple):
        lines = []
        for item in errors:
            lines += _flatten(item, prefix)
        return lines
    return [f"{prefix}: {errors}" if prefix else str(errors)]


def _as_plain(errors: Any) -> Any:
    """ErrorDetail strings and lists into plain JSON; always an object keyed by field."""
    if isinstance(errors, Mapping):
        return {str(k): _as_plain(v) for k, v in errors.items()}
    if isinstance(errors, list | tuple):
        return [_as_plain(v) for v in errors]
    return str(errors)


def validation_error_body(detail: Any) -> dict[str, Any]:
    errors = _as_plain(detail)
    if not isinstance(errors, dict):
        errors = {"non_field_errors": errors if isinstance(errors, list) else [errors]}
    lines = _flatten(errors)
    message = "Invalid input: " + " ".join(line if line.endswith(".") else line + "." for line in lines)
    return error_body(message, "invalid", errors)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every error of an API view as the JSON error body."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(get_error_detail(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(
            f"The request body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes accepted."
        )
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("The request was refused as malformed.")

    response = drf_exception_handler(exc, context)
    if response is None:
        # Unexpected: log it with the traceback, answer without one, and roll back the transaction.
        request = context.get("request")
        request_logger.error(
            "Internal Server Error: %s",
            getattr(request, "path", "?"),
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"status_code": 500},
        )
        set_rollback()
        return Response(error_body("Internal server error.", "server_error"), status=500)

    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_error_body(exc.detail)
    else:
        detail = exc.detail
        if isinstance(detail, list | dict):
            response.data = validation_error_body(detail)
            response.data["code"] = exc.default_code
        else:
            response.data = error_body(str(detail), getattr(detail, "code", None) or exc.default_code)
    return response


def json_error(status: int, detail: str | None = None, code: str | None = None) -> JsonResponse:
    return JsonResponse(error_body(detail or default_message(status), code or default_code(status)), status=status)


# --- Django's error handlers (config/urls.py: handler400, handler403, handler404, handler500) ------
def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return json_error(400, "Bad request.", "bad_request")
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return json_error(403, "You do not have permission to perform this action.", "permission_denied")
    return defaults.permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return json_error(404, not_found_message(request), "not_found")
    return defaults.page_not_found(request, exception)


def not_found_message(request: HttpRequest) -> str:
    """Say so when the path is one slash away from a route: `/api/v1/cases/` is the common slip
    (collection and item paths have no trailing slash; only schema/ and docs/ do)."""
    slashed = request.path_info.endswith("/")
    try:
        resolve(request.path_info[:-1] if slashed else f"{request.path_info}/")
    except Resolver404:
        return "Not found."
    other = request.path[:-1] if slashed else f"{request.path}/"
    return f"Not found. Did you mean {other} ({'without' if slashed else 'with'} the trailing slash)?"


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return json_error(500, "Internal server error.", "server_error")
    return defaults.server_error(request)
