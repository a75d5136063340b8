"""Query filters of the case list (django-filter): specialty, tag and status.

`q` (full-text search) is not a filter here: it ranks the list, so the view hands the filtered
queryset to `cases.fulltext.search` (see CaseListView).

Invalid values are a 400 through DjangoFilterBackend; `status` other than published is a 403 for
non-staff users, who can only ever see published cases.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import PermissionDenied

from cases.models import Case
from cases.services import access
from cases.services.tags import filter_cases_by_tag

DEFAULT_SPECIALTY = "HPB"


class CaseFilter(django_filters.FilterSet):
    specialty = django_filters.CharFilter(
        field_name="specialty",
        max_length=32,
        help_text=f"Specialty of the cases (default {DEFAULT_SPECIALTY}).",
    )
    tag = django_filters.CharFilter(
        method="filter_tag", max_length=64, help_text="Only cases carrying exactly this tag (case-sensitive)."
    )
    status = django_filters.ChoiceFilter(
        choices=Case.Status.choices,
        method="filter_status",
        help_text="Staff only: draft, published or archived. Non-staff users may only ask for published.",
    )

    class Meta:
        model = Case
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        if data is not None and not data.get("specialty"):
            data = data.copy()
            data["specialty"] = DEFAULT_SPECIALTY
        super().__init__(data, *args, **kwargs)

    def get_form_class(self) -> type:
        # django-filter builds a new form class (and its fields) for every request; ours depends on
        # nothing but the declared filters, so build it once per FilterSet class.
        cls = type(self)
        form_class = cls.__dict__.get("_cached_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._cached_form_class = form_class
        return form_class

    def filter_tag(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        return filter_cases_by_tag(queryset, value) if value else queryset

    def filter_status(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        if not value:
            return queryset
        user = getattr(self.request, "user", None)
        if value != Case.Status.PUBLISHED and not access.can_see_unpublished(user):
            raise PermissionDenied("Only staff may list draft or archived cases.")
        return queryset.filter(status=value)


def default_filters() -> dict[str, Any]:
    """What CaseFilter does to a request without any of its parameters, as Case field equalities."""
    return {"specialty": DEFAULT_SPECIALTY}


def is_filtered(request: Any) -> bool:
    """Whether the request names any of CaseFilter's parameters (valid or not)."""
    return any(name in request.query_params for name in CaseFilter.base_filters)


def apply_defaults(queryset: QuerySet[Case]) -> QuerySet[Case]:
    """What CaseFilter does to a request without any of its parameters: the default specialty."""
    return queryset.filter(**default_filters())


class CaseFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend with a shortcut for the most common request, the unfiltered first page.

    A FilterSet builds and validates a form (about half a millisecond); when the request carries
    none of CaseFilter's parameters the outcome is known, so apply it directly. Any filter
    parameter, valid or not, goes through django-filter as usual.
    """

    def filter_queryset(self, request: Any, queryset: QuerySet, view: Any) -> QuerySet:
        if not is_filtered(request):
            return apply_defaults(queryset)
        return super().filter_queryset(request, queryset, view)
