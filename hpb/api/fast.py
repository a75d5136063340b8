"""Read-only serializers whose representation is compiled once per class from their declared fields.

The declared fields stay the single source of truth: drf-spectacular documents them, and the
schema test validates real responses against that documentation. What changes is the hot path:
DRF builds, binds and walks field objects for every row (several microseconds per field); a
`FastReadSerializer` turns each declared field into a plain converter function the first time the
class is used and then builds each row's dict with one loop. The list endpoint serializes 25 rows
and the detail endpoint a dozen nested ones per request, so this is most of their Python time.

Rows are mappings (`QuerySet.values()` rows, or dicts a service assembled); a field's `source`
(default: its name) is the key. Only the field types the read API uses are supported; anything else
is refused when the class is first used, so a new field cannot silently serialize differently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from hpb.api.fields import SignedURLField

Converter = Callable[[Any, Mapping[str, Any]], Any]
_UTC = dt.UTC


def _identity(value: Any, context: Mapping[str, Any]) -> Any:
    return value


def _datetime(value: dt.datetime | str, context: Mapping[str, Any]) -> str:
    # Always UTC with a "Z", as DRF renders it with TIME_ZONE="UTC". Strings are timestamps the
    # database rendered inside JSON (cases.services.case_detail_single_query).
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    text = value.astimezone(_UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _date(value: dt.date, context: Mapping[str, Any]) -> str:
    return value.isoformat()


def _int(value: Any, context: Mapping[str, Any]) -> int:
    return int(value)


def _float(value: Any, context: Mapping[str, Any]) -> float:
    return float(value)


def _str(value: Any, context: Mapping[str, Any]) -> str:
    return value if isinstance(value, str) else str(value)


def _bool(value: Any, context: Mapping[str, Any]) -> bool:
    return bool(value)


def _signed_url(field: SignedURLField) -> Converter:
    to_url = field.signer

    def convert(value: str, context: Mapping[str, Any]) -> str | None:
        return to_url(value, context)

    return convert


def _nested(serializer_class: type[FastReadSerializer], many: bool) -> Converter:
    if many:

        def convert_many(value: Any, context: Mapping[str, Any]) -> list[dict]:
            represent = serializer_class.represent
            return [represent(item, context) for item in value]

        return convert_many

    def convert_one(value: Any, context: Mapping[str, Any]) -> dict:
        return serializer_class.represent(value, context)

    return convert_one


# Plain fields, tested in this order (the first class that matches wins).
_PLAIN_CONVERTERS: tuple[tuple[type[serializers.Field] | tuple[type[serializers.Field], ...], Converter], ...] = (
    (serializers.DateTimeField, _datetime),
    (serializers.DateField, _date),
    (serializers.BooleanField, _bool),
    (serializers.IntegerField, _int),
    (serializers.FloatField, _float),
    ((serializers.JSONField, serializers.DictField), _identity),
    ((serializers.ChoiceField, serializers.CharField), _str),
)


def _converter_for(name: str, field: serializers.Field) -> Converter:
    converter = _composite_converter(field) or next(
        (convert for classes, convert in _PLAIN_CONVERTERS if isinstance(field, classes)), None
    )
    if converter is None:
        raise ImproperlyConfigured(
            f"FastReadSerializer cannot represent field {name!r} of type {type(field).__name__}."
        )
    return converter


def _composite_converter(field: serializers.Field) -> Converter | None:
    """Nested serializers, signed URLs and lists of strings; None for anything else."""
    if isinstance(field, serializers.ListSerializer) and isinstance(field.child, FastReadSerializer):
        return _nested(type(field.child), many=True)
    if isinstance(field, FastReadSerializer):
        return _nested(type(field), many=False)
    if isinstance(field, SignedURLField):
        return _signed_url(field)
    if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.CharField):
        return _identity  # JSON lists of strings (tags) come out of the database as such
    return None


class FastReadSerializer(serializers.Serializer):
    """A read-only serializer over mappings, compiled once per class (see the module docstring)."""

    _plan_cache: dict[type, tuple[tuple[str, str, Converter], ...]] = {}

    @classmethod
    def plan(cls) -> tuple[tuple[str, str, Converter], ...]:
        plan = FastReadSerializer._plan_cache.get(cls)
        if plan is None:
            plan = tuple(
                (name, field.source or name, _converter_for(name, field))
                for name, field in cls._declared_fields.items()
            )
            FastReadSerializer._plan_cache[cls] = plan
        return plan

    @classmethod
    def represent(cls, row: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        result = {}
        for name, source, convert in cls.plan():
            value = row[source]
            result[name] = None if value is None else convert(value, context)
        return result

    def to_representation(self, instance: Mapping[str, Any]) -> dict[str, Any]:
        return self.represent(instance, self.context)
