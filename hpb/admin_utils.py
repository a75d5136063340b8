"""Small helpers shared by the apps' admin modules: signed file links, counts without per-row queries.

Changelists must not query per row, so counts of related rows are correlated subqueries added to
the changelist's queryset (one SQL statement, no join fan-out), and file links are signed in
Python (an HMAC locally, a boto3 presign on S3: neither touches the network or the database).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.contrib.admin.options import InlineModelAdmin
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.html import format_html
from django.utils.safestring import SafeString

from hpb import storage

EMPTY = "-"


def count_subquery(related: QuerySet, field: str) -> Coalesce:
    """`COALESCE((SELECT COUNT(*) FROM related WHERE related.<field> = outer.pk), 0)` as an annotation."""
    counts = related.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def signed_link(reference: str | None, *, label: str = "Open") -> SafeString | str:
    """An <a> to a short-lived URL of a stored file, or "-" when there is none.

    Local links are made relative so they work on whichever host serves the admin; they expire
    like any signed link (reload the page for a fresh one).
    """
    url = storage.signed_url(reference) if reference else None
    if not url:
        return EMPTY
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    if url.startswith(base + "/"):
        url = url[len(base) :]
    return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, label)


def pretty_json(value: object) -> SafeString:
    """JSON metadata as an indented block (read-only fields)."""
    return format_html(
        '<pre style="margin:0;white-space:pre-wrap">{}</pre>',
        json.dumps(value if value is not None else {}, indent=2, sort_keys=True, ensure_ascii=False),
    )


def color_swatch(color_hex: str) -> SafeString:
    return format_html(
        '<span style="display:inline-block;width:1.2em;height:1.2em;vertical-align:middle;'
        'border:1px solid #888;background:{}"></span> {}',
        color_hex,
        color_hex,
    )


def human_size(size: object) -> str:
    """Bytes as B/kB/MB for list columns; "-" when unknown."""
    if not isinstance(size, int | float) or size < 0:
        return EMPTY
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return EMPTY  # pragma: no cover


def format_number(value: object) -> str:
    """Counts with thousands separators, measurements to a sensible precision, EMPTY for none."""
    if isinstance(value, bool) or value is None:
        return EMPTY
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


# --- Inlines one app contributes to another app's admin page ------------------------------------

_CONTRIBUTED_INLINES: dict[str, list[type[InlineModelAdmin]]] = {}


def contribute_inline(model_label: str) -> Callable[[type[InlineModelAdmin]], type[InlineModelAdmin]]:
    """Class decorator: show the inline on the admin page of `model_label` ("app_label.Model").

    The imaging app puts its studies and structures on the case page this way, so neither `cases`
    nor `imaging` imports the other's admin: the page's owner asks `contributed_inlines` for them.
    Every app's `admin` module is imported by the admin's autodiscovery before the first request.
    """

    def register(inline: type[InlineModelAdmin]) -> type[InlineModelAdmin]:
        registered = _CONTRIBUTED_INLINES.setdefault(model_label.lower(), [])
        if inline not in registered:
            registered.append(inline)
        return inline

    return register


def contributed_inlines(model_label: str) -> tuple[type[InlineModelAdmin], ...]:
    """The inlines other apps contributed to `model_label`'s admin page, in registration order."""
    return tuple(_CONTRIBUTED_INLINES.get(model_label.lower(), ()))
