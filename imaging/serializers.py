"""The API contract of ingestion: announcing an upload, its forms, and a job's status."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import ReturnList

from imaging.models import CaseStructure, ImagingStudy, IngestJob
from imaging.services.jobs import InvalidLabelsError, parse_labels
from imaging.services.lifecycle import PUBLIC_STATUSES, public_status

MAX_FILES_PER_UPLOAD = 2000


class AnnouncedFileSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, help_text="The file's name on the client (kept on the job only).")
    size = serializers.IntegerField(min_value=0, required=False, allow_null=True, help_text="Size in bytes.")

    def validate_size(self, value: int | None) -> int | None:
        if value is not None and value > settings.INGEST_MAX_ARCHIVE_BYTES:
            raise serializers.ValidationError(
                f"The file is larger than the upload limit of {settings.INGEST_MAX_ARCHIVE_BYTES:,} bytes."
            )
        return value


class UploadRequestSerializer(serializers.Serializer):
    files: serializers.ListSerializer[list[dict[str, Any]]] = serializers.ListSerializer(
        child=AnnouncedFileSerializer(),
        allow_empty=False,
        max_length=MAX_FILES_PER_UPLOAD,
        help_text="The series: one zip, or the DICOM files one by one (zip larger series).",
    )
    segmentation = AnnouncedFileSerializer(
        required=False, allow_null=True, help_text="Optional DICOM SEG or NIfTI label map."
    )
    labels = serializers.JSONField(
        required=False, help_text='Segmentation label value -> structure name, e.g. {"1": "liver", "2": "tumour"}.'
    )

    def validate_labels(self, value: object) -> dict[str, str]:
        try:
            return parse_labels(value)
        except InvalidLabelsError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def run_validation(self, data: Any = serializers.empty) -> Any:
        """Errors as `{field: [messages]}` (the API's documented error body), nested ones spelled out:
        `{"files": ["files[2].size: The file is larger than ..."]}` rather than lists of dicts."""
        try:
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            raise serializers.ValidationError({k: _flat_messages(v, k) for k, v in detail.items()}) from None


def _flat_messages(errors: object, path: str) -> list[str]:
    if isinstance(errors, dict):
        return [message for key, value in errors.items() for message in _flat_messages(value, _child_path(path, key))]
    if isinstance(errors, list):
        if all(not isinstance(e, dict | list) for e in errors):
            return [f"{path}: {e}" if "." in path or "[" in path else str(e) for e in errors]
        return [m for index, e in enumerate(errors) for m in _flat_messages(e, f"{path}[{index}]")]
    return [f"{path}: {errors}" if "." in path or "[" in path else str(errors)]


class UploadFormSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The announced file this form is for.")
    key = serializers.CharField(help_text="Where the file lands in the uploads bucket.")
    method = serializers.CharField(help_text="Always POST (multipart/form-data).")
    url = serializers.CharField()
    max_bytes = serializers.IntegerField()
    expires_at = serializers.IntegerField(help_text="Unix time after which the form is refused.")
    segmentation = serializers.BooleanField()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        """The form's own `fields`, after `url`: as a class attribute it would hide `Serializer.fields`."""
        fields = {}
        for name, field in super().get_fields().items():
            fields[name] = field
            if name == "url":
                fields["fields"] = serializers.DictField(
                    child=serializers.CharField(), help_text="Send every field, then the file last as `file`."
                )
        return fields


class JobStudySerializer(serializers.ModelSerializer[ImagingStudy]):
    class Meta:
        model = ImagingStudy
        fields = ["id", "label"]


class JobStructureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    imaging_study_id = serializers.IntegerField()


class IngestJobSerializer(serializers.ModelSerializer[IngestJob]):
    """An ingest job. `state` is its real state; `status` and `stage` stay what clients have always
    read: the states `awaiting_upload` and `retrying` show as `queued` with that stage."""

    case_id = serializers.IntegerField(read_only=True)
    state = serializers.ChoiceField(
        source="status",
        choices=IngestJob.Status.choices,
        read_only=True,
        help_text="The job's state. `status` and `stage` show `awaiting_upload` and `retrying` as `queued` "
        "with that stage, as they always have.",
    )
    status = serializers.SerializerMethodField(
        help_text="The status clients have always read: `state`, with awaiting_upload and retrying shown as queued."
    )
    stage = serializers.SerializerMethodField(
        help_text="How far the job got (`awaiting_upload` or `retrying` while queued in those states)."
    )
    studies = serializers.SerializerMethodField()
    structures = serializers.SerializerMethodField()

    class Meta:
        model = IngestJob
        fields = [
            "id",
            "case_id",
            "source",
            "upload_id",
            "state",
            "status",
            "stage",
            "progress",
            "attempts",
            "error_code",
            "error",
            "checksum",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
            "studies",
            "structures",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=[(s, IngestJob.Status(s).label) for s in PUBLIC_STATUSES]))
    def get_status(self, job: IngestJob) -> str:
        return public_status(status=job.status, stage=job.stage)[0]

    @extend_schema_field(serializers.CharField())
    def get_stage(self, job: IngestJob) -> str:
        return public_status(status=job.status, stage=job.stage)[1]

    @extend_schema_field(JobStudySerializer(many=True))
    def get_studies(self, job: IngestJob) -> ReturnList[Any]:
        return _many(JobStudySerializer(job.studies.all(), many=True))

    @extend_schema_field(JobStructureSerializer(many=True))
    def get_structures(self, job: IngestJob) -> ReturnList[Any]:
        rows = CaseStructure.objects.filter(imaging_study__ingest_job=job).order_by("imaging_study_id", "name")
        return _many(JobStructureSerializer(rows, many=True))


def _many(serializer: serializers.BaseSerializer[Any]) -> ReturnList[Any]:
    """The data of a `many=True` serializer: a ListSerializer's list (the stubs type `.data` as a dict)."""
    return cast(ReturnList[Any], serializer.data)


class UploadResponseSerializer(serializers.Serializer):
    upload_id = serializers.CharField()
    job = IngestJobSerializer()
    uploads = UploadFormSerializer(many=True)
    complete_url = serializers.CharField(help_text="POST here once every file is uploaded to start the job.")
    job_url = serializers.CharField(help_text="GET the job's status, progress and error here.")


def _child_path(path: str, key: object) -> str:
    if key == "non_field_errors":
        return path
    return f"{path}[{key}]" if str(key).isdigit() else f"{path}.{key}"


class ManifestVolumeSerializer(serializers.Serializer):
    output = serializers.CharField(help_text="Relative path of the .vti in the case's folder.")
    url = serializers.CharField(allow_null=True, help_text="A short-lived URL to it; null in lightweight mode.")
    level = serializers.ChoiceField(choices=["full", "preview"])
    dimensions = serializers.ListField(child=serializers.IntegerField(), required=False)
    spacing = serializers.ListField(child=serializers.FloatField(), required=False)
    levels = serializers.ListField(child=serializers.CharField(), help_text="The levels the study has.")


class ManifestSegmentationSerializer(serializers.Serializer):
    output = serializers.CharField(help_text="segmentations/<structure>-<version>.vtp")
    url = serializers.CharField(allow_null=True)
    display_name = serializers.CharField()
    color_hex = serializers.CharField()
    level = serializers.ChoiceField(choices=["full", "light"])
    volume_ml = serializers.FloatField(required=False)
    cell_count = serializers.IntegerField(required=False)


class ManifestDocumentSerializer(serializers.Serializer):
    title = serializers.CharField()
    filename = serializers.CharField(help_text="clinical_files/<title>-<version>.pdf")
    url = serializers.CharField(allow_null=True)
    summary = serializers.CharField()


class ManifestMetadataSerializer(serializers.Serializer):
    voxels = serializers.CharField(help_text='As the viewer shows it, e.g. "512 × 512 × 300".')
    spacing = serializers.CharField(help_text='e.g. "0.78 mm × 0.78 mm × 1 mm".')
    notes = serializers.CharField()


class ViewerManifestSerializer(serializers.Serializer):
    """The learnHPB viewer's manifest.json of a case's published bundle (docs/viewer.md), with a signed
    `url` beside every relative path. Documentation of the response: the body is the stored manifest."""

    schema = serializers.CharField(help_text="hpb-viewer-bundle/1")
    case_id = serializers.CharField(help_text="The bundle's folder name (not the API id; it names no one).")
    title = serializers.CharField()
    focus = serializers.CharField()
    specialty = serializers.CharField()
    volume = ManifestVolumeSerializer(required=False)
    meshes = serializers.DictField(child=serializers.CharField(), help_text="Display name -> relative path.")
    mesh_urls = serializers.DictField(child=serializers.CharField(allow_null=True), help_text="Display name -> URL.")
    segmentations = ManifestSegmentationSerializer(many=True)
    documents = ManifestDocumentSerializer(many=True)
    metadata = ManifestMetadataSerializer()
    files = serializers.ListField(child=serializers.DictField(), help_text="Every file: path, content_type, url.")
    timestamp = serializers.IntegerField(help_text="When the bundle was last published (Unix seconds).")
    request_id = serializers.CharField()
    content_hash = serializers.CharField(help_text="SHA-256 of the manifest's content: changes with any file.")
