"""Ingestion endpoints: announce an upload, complete it, follow the job; and the local upload target.

Views are thin: the work is in `imaging.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.models import Case
from hpb import storage
from hpb.api.errors import error_body
from hpb.api.schema import ErrorSerializer
from imaging.models import IngestJob
from imaging.serializers import IngestJobSerializer, UploadRequestSerializer, UploadResponseSerializer
from imaging.services import direct_upload, keys
from imaging.services.jobs import (
    UPLOADS,
    AnnouncedFile,
    UploadIncompleteError,
    complete_api_upload,
    start_api_upload,
)


class CaseImagingUploadView(APIView):
    """Staff only: announce the files of an upload and receive one upload form per file."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="case_imaging_upload_create",
        tags=["imaging"],
        request=UploadRequestSerializer,
        responses={201: UploadResponseSerializer},
        summary="Start a DICOM upload for a case",
        description=(
            "Creates an ingest job waiting for its files and returns, for every announced file, a form to "
            "POST it (multipart/form-data: every field, then the file as `file`) straight into the uploads "
            "bucket (S3 presigned POST; locally a signed form to this server). Then POST `complete_url`."
        ),
    )
    def post(self, request: Request, case_id: int) -> Response:
        case = get_object_or_404(Case, pk=case_id)
        body = UploadRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        segmentation = data.get("segmentation")
        job, announced = start_api_upload(
            case=case,
            files=[AnnouncedFile(name=f["name"], size=f.get("size")) for f in data["files"]],
            segmentation=AnnouncedFile(name=segmentation["name"], size=segmentation.get("size"))
            if segmentation
            else None,
            labels=data.get("labels") or {},
            created_by=request.user,
        )
        forms = []
        for upload in announced:
            form = direct_upload.upload_form(
                key=upload.key, max_bytes=settings.INGEST_MAX_ARCHIVE_BYTES, request=request
            )
            forms.append(
                {
                    "name": upload.name,
                    "key": form.key,
                    "method": form.method,
                    "url": form.url,
                    "fields": form.fields,
                    "max_bytes": form.max_bytes,
                    "expires_at": form.expires_at,
                    "segmentation": upload.is_segmentation,
                }
            )
        payload = {
            "upload_id": job.upload_id,
            "job": job,
            "uploads": forms,
            "complete_url": request.build_absolute_uri(
                reverse("api:case-imaging-upload-complete", kwargs={"case_id": case.pk, "upload_id": job.upload_id})
            ),
            "job_url": request.build_absolute_uri(reverse("api:ingest-job-detail", kwargs={"job_id": job.pk})),
        }
        return Response(UploadResponseSerializer(payload).data, status=status.HTTP_201_CREATED)


class CompleteUploadView(APIView):
    """Staff only: every file is uploaded; start the job (idempotent)."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="case_imaging_upload_complete",
        tags=["imaging"],
        request=None,
        responses={
            202: IngestJobSerializer,
            200: IngestJobSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="Some announced files have not arrived (code upload_incomplete)."
            ),
        },
        summary="Start the ingest job of a finished upload",
        description="202 when this call started the job, 200 when it had been started already.",
    )
    def post(self, request: Request, case_id: int, upload_id: str) -> Response:
        job = get_object_or_404(IngestJob, case_id=case_id, upload_id=upload_id, source=IngestJob.Source.UPLOAD)
        try:
            job, started = complete_api_upload(job=job)
        except UploadIncompleteError as exc:
            return Response(error_body(str(exc), "upload_incomplete"), status=status.HTTP_409_CONFLICT)
        return Response(
            IngestJobSerializer(job).data, status=status.HTTP_202_ACCEPTED if started else status.HTTP_200_OK
        )


class IngestJobDetailView(APIView):
    """Staff only: a job's status, stage, progress, error, and what it produced."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="ingest_job_retrieve",
        tags=["imaging"],
        responses={200: IngestJobSerializer},
        summary="Follow an ingest job",
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = get_object_or_404(IngestJob.objects.select_related("case"), pk=job_id)
        return Response(IngestJobSerializer(job).data)


def _refuse(status_code: int, message: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(message, code), status=status_code)


@csrf_exempt
@require_POST
def direct_upload_view(request: HttpRequest) -> HttpResponse:
    """The local stand-in for an S3 presigned POST: the signed form fields are the credential.

    Used only when the uploads storage is the filesystem (`make run`); with S3 clients post to S3.
    """
    if storage.is_s3(UPLOADS):
        return _refuse(404, "Uploads go straight to S3 here; use the form the API returned.", "not_found")
    key = request.POST.get("key", "")
    if not direct_upload.verify_form(
        key=key,
        expires=request.POST.get("expires", ""),
        max_bytes=request.POST.get("max_bytes", ""),
        signature=request.POST.get("signature", ""),
    ):
        return _refuse(403, "This upload form is invalid or has expired; ask the API for a new one.", "form_invalid")
    if keys.parse_upload_key(key) is None:
        return _refuse(400, "The form names a key outside the uploads area.", "invalid")
    upload = request.FILES.get("file")
    if upload is None:
        return _refuse(400, "Send the file in the multipart field `file`, after the form's fields.", "file_missing")
    limit = int(request.POST["max_bytes"])
    if upload.size is None or upload.size > limit:
        return _refuse(413, f"The file is larger than this form allows ({limit:,} bytes).", "too_large")
    storage.save(UPLOADS, key, upload)
    return HttpResponse(status=204)
