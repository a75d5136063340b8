"""Read-only case endpoints of API v1: the list and the detail. Thin: visibility lives in services."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView, RetrieveAPIView

from cases import services
from cases.filters import CaseFilter
from cases.models import Case, Document
from cases.serializers import CaseDetailSerializer, CaseSummarySerializer
from hpb import flags
from hpb.api.pagination import HeaderLimitOffsetPagination, pagination_headers
from hpb.api.views import LIGHTWEIGHT_PARAMETER
from imaging.models import CaseStructure, ImagingStudy

SUMMARY_COLUMNS = (
    "id",
    "slug",
    "title",
    "focus",
    "specialty",
    "created_at",
    "updated_at",
    "status",
    "lightweight",
    "tags",
)


class CaseViewMixin:
    """The cases this request may see, and the lightweight flag for the serializers."""

    def visible_cases(self) -> QuerySet[Case]:
        return services.visible_cases(user=self.request.user, lightweight=flags.lightweight_mode(self.request))

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        context["lightweight"] = flags.lightweight_mode(self.request)
        return context


@extend_schema(tags=["cases"])
class CaseListView(CaseViewMixin, ListAPIView):
    """Case summaries, newest first, as a JSON array; paging in `X-Total-Count` and `Link`."""

    serializer_class = CaseSummarySerializer
    pagination_class = HeaderLimitOffsetPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = CaseFilter

    def get_queryset(self) -> QuerySet[Case]:
        return self.visible_cases().only(*SUMMARY_COLUMNS).order_by("-created_at", "-id")

    @extend_schema(parameters=[LIGHTWEIGHT_PARAMETER, *pagination_headers()])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["cases"])
class CaseDetailView(CaseViewMixin, RetrieveAPIView):
    """One case with its patient, documents, imaging studies and structures; file URLs are signed."""

    # Four queries whatever the number of related rows: the case joined to its patient, then one
    # each for documents (without their full text), studies and structures.

    serializer_class = CaseDetailSerializer
    lookup_url_kwarg = "case_id"

    def get_queryset(self) -> QuerySet[Case]:
        return (
            self.visible_cases()
            .select_related("patient")
            .prefetch_related(
                Prefetch("documents", queryset=Document.objects.defer("full_text").order_by("created_at", "id")),
                Prefetch("imaging_studies", queryset=ImagingStudy.objects.order_by("acquired_at", "id")),
                Prefetch("structures", queryset=CaseStructure.objects.order_by("imaging_study_id", "name", "id")),
            )
        )

    @extend_schema(parameters=[LIGHTWEIGHT_PARAMETER])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
