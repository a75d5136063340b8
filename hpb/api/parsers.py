"""Request parsers that turn every malformed or oversized body into a 4xx, never a 500."""

from collections.abc import Mapping
from typing import Any, cast

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with two guards DRF lacks.

    - Size: DRF streams the body into the decoder without Django's DATA_UPLOAD_MAX_MEMORY_SIZE
      check (that check lives in `request.body`), so a huge body would be read whole; refuse it.
    - Depth: `[[[[...` a few thousand levels deep raises RecursionError, which DRF does not catch.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        # None switches Django's own limit off (the stubs say int).
        limit = cast("int | None", settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        request = (parser_context or {}).get("request")
        if limit is not None and request is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                raise RequestTooLarge(f"The request body is {length} bytes; at most {limit} bytes are accepted.")
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
