"""Ingestion routes of API v1 (discovered and mounted under /api/v1/ by hpb.api.urls, namespace `api`)."""

from django.urls import path

from imaging import manifest_views, views

urlpatterns = [
    path("cases/<id:case_id>/imaging/uploads", views.CaseImagingUploadView.as_view(), name="case-imaging-uploads"),
    path(
        "cases/<id:case_id>/imaging/uploads/<str:upload_id>/complete",
        views.CompleteUploadView.as_view(),
        name="case-imaging-upload-complete",
    ),
    path("ingest-jobs/<id:job_id>", views.IngestJobDetailView.as_view(), name="ingest-job-detail"),
    path("cases/<id:case_id>/manifest", manifest_views.CaseManifestView.as_view(), name="case-manifest"),
]
