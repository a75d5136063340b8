"""Read-only case endpoints of API v1: the list and the detail. Thin: the rows come from services."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from cases.filters import CaseFilter, CaseFilterBackend
from cases.models import Case
from cases.serializers import CaseDetailSerializer, CaseSummarySerializer
from cases.services import access, reading
from hpb import flags
from hpb.api.pagination import HeaderLimitOffsetPagination, pagination_headers
from hpb.api.views import LIGHTWEIGHT_PARAMETER


class CaseViewMixin:
    """The cases this request may see, and the lightweight flag for the serializers."""

    request: Request

    def visible_cases(self) -> QuerySet[Case]:
        return access.visible_cases(user=self.request.user, lightweight=flags.lightweight_mode(self.request))

    def get_serializer_context(self) -> dict:
        return {"request": self.request, "view": self, "lightweight": flags.lightweight_mode(self.request)}


@extend_schema(tags=["cases"])
class CaseListView(CaseViewMixin, ListAPIView):
    """Case summaries, newest first, as a JSON array; paging in `X-Total-Count` and `Link`."""

    serializer_class = CaseSummarySerializer
    pagination_class = HeaderLimitOffsetPagination
    filter_backends = [CaseFilterBackend]
    filterset_class = CaseFilter
    queryset = Case.objects.none()  # for schema introspection; the real one is get_queryset's

    def get_queryset(self) -> QuerySet:
        return reading.case_summaries(self.visible_cases())

    @extend_schema(parameters=[LIGHTWEIGHT_PARAMETER, *pagination_headers()])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["cases"])
class CaseDetailView(CaseViewMixin, GenericAPIView):
    """One case with its patient, documents, imaging studies and structures; file URLs are signed."""

    serializer_class = CaseDetailSerializer
    queryset = Case.objects.none()  # for schema introspection

    @extend_schema(parameters=[LIGHTWEIGHT_PARAMETER])
    def get(self, request: Request, case_id: int) -> Response:
        row = reading.case_detail(cases=self.visible_cases(), case_id=case_id)
        if row is None:
            raise Http404
        return Response(self.get_serializer(row).data)
