"""Serializer fields shared by the apps' API serializers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hpb import storage


@extend_schema_field({"type": "string", "format": "uri", "nullable": True})
class SignedURLField(serializers.Field):
    """Read-only: a stored reference (s3://... or storage://...) as a short-lived fetchable URL.

    The raw reference never leaves the server; an empty or unusable reference becomes null.
    `omit_in_lightweight` fields (the CT volumes) are null when the serializer context says the
    request is in lightweight mode.
    """

    def __init__(self, *, alias: str, omit_in_lightweight: bool = False, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        kwargs.setdefault(
            "help_text",
            "A short-lived signed URL to the file"
            + (", null in lightweight mode" if omit_in_lightweight else "")
            + "; null when there is no file.",
        )
        super().__init__(**kwargs)
        self.alias = alias
        self.omit_in_lightweight = omit_in_lightweight

    def signer(self, value: str, context: Mapping[str, Any]) -> str | None:
        """The URL for `value` given a serializer context (`request`, `lightweight`)."""
        if self.omit_in_lightweight and context.get("lightweight"):
            return None
        return storage.signed_url(value, request=context.get("request"), default_alias=self.alias)

    def to_representation(self, value: str) -> str | None:
        return self.signer(value, self.context)
