"""Helpers for admin tests: query counts per page, and POST data rebuilt from a rendered change form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.forms import BaseForm, CheckboxInput, MultiWidget
from django.test import Client
from django.test.utils import CaptureQueriesContext

if TYPE_CHECKING:  # what the test client returns: a response with the template context attached
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse


def count_queries(client: Client, url: str) -> int:
    """Queries of one GET (which must answer 200); call once before to warm per-process caches."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured.captured_queries)


def assert_queries_do_not_grow(
    client: Client, url: str, add_rows: Callable[[int], object], *, extra: int = 4
) -> tuple[int, int]:
    """The page costs as many queries after `add_rows(extra)` as before: no query per row."""
    count_queries(client, url)  # warm content-type and permission caches
    before = count_queries(client, url)
    add_rows(extra)
    after = count_queries(client, url)
    assert after == before, f"{url}: {before} queries with fewer rows, {after} with {extra} more rows"
    return before, after


def change_form_data(response: TestResponse) -> dict[str, Any]:
    """The data a browser would POST back from an admin add/change page, unchanged."""
    data: dict[str, Any] = {}
    _add_form(data, response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        _add_form(data, formset.management_form)
        for form in formset.forms:
            _add_form(data, form)
    return data


def _add_form(data: dict[str, Any], form: BaseForm) -> None:
    for name, field in form.fields.items():
        key = form.add_prefix(name)
        value = form[name].value()
        widget = getattr(field.widget, "widget", field.widget)  # unwrap RelatedFieldWidgetWrapper
        if isinstance(widget, MultiWidget):
            parts = widget.decompress(value) if not isinstance(value, list) else value
            assert parts is not None, (key, value)
            for index, part in enumerate(parts):
                data[f"{key}_{index}"] = _text(part)
        elif isinstance(widget, CheckboxInput):
            if value:
                data[key] = "on"
        elif isinstance(value, list | tuple):
            data[key] = [_text(v) for v in value]
        elif value is not None:
            data[key] = _text(value)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
