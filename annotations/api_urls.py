"""Annotation routes of API v1 (included by hpb.api.urls)."""

from django.urls import path

from annotations import views

urlpatterns = [
    path("cases/<id:case_id>/annotations", views.CaseAnnotationListView.as_view(), name="case-annotations"),
    path("annotations/<id:annotation_id>", views.AnnotationDetailView.as_view(), name="annotation-detail"),
]
