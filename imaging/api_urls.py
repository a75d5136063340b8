"""Ingestion routes of API v1 (included under /api/v1/)."""

from django.urls import path

from imaging import views

app_name = "imaging-api"

urlpatterns = [
    path("cases/<int:case_id>/imaging/uploads", views.CaseImagingUploadView.as_view(), name="case-imaging-uploads"),
    path(
        "cases/<int:case_id>/imaging/uploads/<str:upload_id>/complete",
        views.CompleteUploadView.as_view(),
        name="case-imaging-upload-complete",
    ),
    path("ingest-jobs/<int:pk>", views.IngestJobDetailView.as_view(), name="ingest-job-detail"),
]
