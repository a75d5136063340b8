"""Validators shared by several apps' models and serializers."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

COLOR_HEX_REGEX = r"^#[0-9A-Fa-f]{6}$"
validate_color_hex = RegexValidator(COLOR_HEX_REGEX, "Enter a colour as #RRGGBB, e.g. #A0522D.")


def validate_string_list(value: object) -> None:
    """Tags are a JSON list of short, non-blank strings."""
    if not isinstance(value, list):
        raise ValidationError("Enter a list of strings.")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValidationError("Every tag must be a non-blank string.")
        if len(item) > 64:
            raise ValidationError(f"Tag {item[:20]!r}... is longer than 64 characters.")


def validate_json_object(value: object) -> None:
    """Metadata columns hold a JSON object (a dict), never a bare list or scalar."""
    if not isinstance(value, dict):
        raise ValidationError("Enter a JSON object.")
