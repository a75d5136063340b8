"""Path converters for API URLs.

`<id:pk>` only matches what a PostgreSQL bigint primary key can hold, so `/cases/abc` and
`/cases/99999999999999999999` are plain 404s instead of a database error (500).
"""

from django.urls import register_converter
from django.urls.converters import get_converters

MAX_BIGINT = 2**63 - 1


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number < 1 or number > MAX_BIGINT:
            # A ValueError makes the URL resolver treat the path as not matching: a clean 404.
            raise ValueError("Out of range for a primary key.")
        return number

    def to_url(self, value: int | str) -> str:
        return str(int(value))


def register() -> None:
    """Register `<id:...>` once (re-registering a name is deprecated in Django 5.x)."""
    if "id" not in get_converters():
        register_converter(IdConverter, "id")
