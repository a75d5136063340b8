"""The annotation contract of API v1: `{id, case_id, author, body, metadata, created_at}` (+ updated_at).

`author` is an object `{id, username}` set from the signed-in user and never writable; `case_id`
comes from the URL. `body` is required, non-blank and at most 10,000 characters; `metadata` is a
JSON object of at most 16 KB (UTF-8, compact JSON).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations.models import Annotation

BODY_MAX_LENGTH = 10_000
METADATA_MAX_BYTES = 16 * 1024


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False


class AuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username"]
        read_only_fields = fields
        ref_name = "AnnotationAuthor"


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": f"A JSON object (e.g. a structure id, a 3D point, a camera), at most {METADATA_MAX_BYTES} "
        "bytes as compact JSON.",
    }
)
class MetadataField(serializers.JSONField):
    def to_internal_value(self, data: Any) -> dict:
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            raise serializers.ValidationError('Expected a JSON object, e.g. {"structure_id": 3}.')
        if _contains_nul(data):
            # PostgreSQL's jsonb cannot store \u0000; say so rather than fail on save.
            raise serializers.ValidationError("Metadata may not contain NUL characters (\\u0000).")
        size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > METADATA_MAX_BYTES:
            raise serializers.ValidationError(
                f"Metadata is {size} bytes as JSON; at most {METADATA_MAX_BYTES} bytes are allowed."
            )
        return data


class AnnotationSerializer(serializers.ModelSerializer):
    case_id = serializers.IntegerField(read_only=True)
    author = AuthorSerializer(read_only=True)
    body = serializers.CharField(
        max_length=BODY_MAX_LENGTH,
        allow_blank=False,
        trim_whitespace=True,
        help_text=f"The note: required, not blank, at most {BODY_MAX_LENGTH} characters.",
    )
    metadata = MetadataField(required=False, default=dict)

    class Meta:
        model = Annotation
        fields = ["id", "case_id", "author", "body", "metadata", "created_at", "updated_at"]
        read_only_fields = ["id", "case_id", "author", "created_at", "updated_at"]
