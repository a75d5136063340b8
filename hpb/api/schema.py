"""OpenAPI helpers: the error body component and an AutoSchema that documents errors everywhere.

The schema is the viewer's generated client, so it must say what really comes back: every operation
lists the JSON error body for the 4xx codes it can answer (429 with Retry-After where it is throttled),
list bodies are arrays with their paging headers, and URL fields are nullable strings.
"""

from __future__ import annotations

from typing import Literal

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorSerializer(serializers.Serializer):
    """The JSON body of every 4xx/5xx under /api/ (see hpb.api.errors)."""

    detail = serializers.CharField(help_text="A readable message saying what is wrong.")
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. not_found, invalid.")
    # SerializerMetaclass moves declared fields off the class, so this never hides Serializer.errors.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For validation errors (400): messages per field or query parameter.",
    )

    class Meta:
        ref_name = "Error"


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (free-form keys); documented as such rather than as "any value"."""


_ERROR_DESCRIPTIONS = {
    "400": "Malformed query parameter or request body.",
    "401": "Not authenticated (send a session cookie or `Authorization: Token <key>`).",
    "403": "Authenticated but not allowed.",
    "404": "Unknown, hidden or malformed id.",
    "413": "Request body larger than the server accepts.",
    "429": "Too many attempts; wait the seconds in `Retry-After` before trying again.",
}
_RETRY_AFTER_HEADER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 1},
        "description": "Seconds until the throttle lets a request through again.",
    }
}


class HPBAutoSchema(AutoSchema):
    """Adds the JSON error responses each operation can produce to its documented responses."""

    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        public = any(isinstance(p, AllowAny) for p in self.view.get_permissions())
        codes = ["400"]
        if not public:
            codes += ["401", "403"]
        if "{" in self.path:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("413")
        if self.view.throttle_classes:  # the classes, not get_throttles(): no throttle is built for the schema
            codes.append("429")
        for code in codes:
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = _ERROR_DESCRIPTIONS[code]
                if code == "429":
                    response["headers"] = _RETRY_AFTER_HEADER
                responses[code] = response
        return responses
