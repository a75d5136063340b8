"""Annotation endpoints of API v1.

`GET/POST /cases/{case_id}/annotations` lists (paged like the case list) and creates notes on a case
the user may see; `GET/PATCH/DELETE /annotations/{id}` reads, edits and removes one. A note on a case
the user may not see is a 404; changing someone else's note is a 403 unless the user is staff.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.generics import ListCreateAPIView, RetrieveUpdateDestroyAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.reverse import reverse
from rest_framework.serializers import BaseSerializer

from annotations.models import Annotation
from annotations.serializers import AnnotationSerializer
from cases.models import Case
from cases.services.access import visible_cases
from hpb import flags
from hpb.api.pagination import HeaderLimitOffsetPagination, pagination_headers
from hpb.api.parsers import JSONParser
from hpb.api.permissions import IsAuthorOrStaff
from hpb.api.views import LIGHTWEIGHT_PARAMETER


def _visible_cases(request: Request) -> QuerySet[Case]:
    return visible_cases(user=request.user, lightweight=flags.lightweight_mode(request))


@extend_schema_view(
    get=extend_schema(parameters=[LIGHTWEIGHT_PARAMETER, *pagination_headers()], summary="List a case's notes"),
    post=extend_schema(parameters=[LIGHTWEIGHT_PARAMETER], summary="Add a note to a case"),
)
@extend_schema(tags=["annotations"])
class CaseAnnotationListView(ListCreateAPIView):
    """Notes on one case, newest first; POST adds one authored by the signed-in user."""

    serializer_class = AnnotationSerializer
    pagination_class = HeaderLimitOffsetPagination
    parser_classes = [JSONParser]

    def get_case(self) -> Case:
        if not hasattr(self, "_case"):
            self._case = get_object_or_404(_visible_cases(self.request).only("id"), pk=self.kwargs["case_id"])
        return self._case

    def get_queryset(self) -> QuerySet[Annotation]:
        return (
            Annotation.objects.filter(case=self.get_case())
            .select_related("author")
            .only("id", "case_id", "body", "metadata", "created_at", "updated_at", "author__id", "author__username")
            .order_by("-created_at", "-id")
        )

    def perform_create(self, serializer: BaseSerializer[Annotation]) -> None:
        serializer.save(case=self.get_case(), author=self.request.user)

    def get_success_headers(self, data: dict) -> dict[str, str]:
        location = reverse("api:annotation-detail", kwargs={"annotation_id": data["id"]}, request=self.request)
        return {"Location": location}


@extend_schema_view(
    get=extend_schema(parameters=[LIGHTWEIGHT_PARAMETER], summary="Read a note"),
    patch=extend_schema(parameters=[LIGHTWEIGHT_PARAMETER], summary="Edit a note (author or staff)"),
    delete=extend_schema(parameters=[LIGHTWEIGHT_PARAMETER], summary="Delete a note (author or staff)"),
)
@extend_schema(tags=["annotations"])
class AnnotationDetailView(RetrieveUpdateDestroyAPIView):
    """One note. Anyone who may see its case may read it; its author or staff may edit or delete it."""

    serializer_class = AnnotationSerializer
    permission_classes = [IsAuthenticated, IsAuthorOrStaff]
    parser_classes = [JSONParser]
    http_method_names = ["get", "patch", "delete", "head", "options"]
    lookup_url_kwarg = "annotation_id"

    def get_queryset(self) -> QuerySet[Annotation]:
        return Annotation.objects.filter(case__in=_visible_cases(self.request)).select_related("author")
