"""Imaging studies, segmented structures and the ingestion jobs that produce them.

`*_uri` fields hold stored references (`s3://bucket/key` or `storage://assets/key`); the API turns
them into short-lived URLs through `hpb.storage.signed_url` and never returns them raw.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from hpb.validators import COLOR_HEX_REGEX, validate_color_hex, validate_json_object


class ImagingStudy(models.Model):
    """A CT (or other) volume converted to `.vti` for the viewer."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="imaging_studies")
    label = models.CharField(max_length=200)
    modality = models.CharField(max_length=16, default="CT")
    volume_uri = models.CharField(max_length=500, blank=True)
    preview_uri = models.CharField(max_length=500, blank=True)
    format = models.CharField(max_length=16, default="vti")
    metadata = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    acquired_at = models.DateTimeField(null=True, blank=True)
    series_instance_uid = models.CharField(
        max_length=64, blank=True, help_text="DICOM SeriesInstanceUID of the source series (for idempotent re-ingest)."
    )
    ingest_job = models.ForeignKey(
        "imaging.IngestJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="studies"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["acquired_at", "id"]
        verbose_name_plural = "imaging studies"
        indexes = [models.Index(fields=["case", "acquired_at"], name="study_case_acquired")]
        constraints = [
            # Re-ingesting a series replaces its study; a second study of one series is always a mistake.
            models.UniqueConstraint(
                fields=["case", "series_instance_uid"],
                condition=~Q(series_instance_uid=""),
                name="study_series_unique_per_case",
                violation_error_message="This case already has a study of this DICOM series.",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class CaseStructure(models.Model):
    """A segmented anatomical structure (liver, tumour, portal vein...) as a `.vtp` mesh."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="structures")
    imaging_study = models.ForeignKey(
        ImagingStudy, on_delete=models.CASCADE, null=True, blank=True, related_name="structures"
    )
    name = models.CharField(max_length=100)
    color_hex = models.CharField(max_length=7, default="#CCCCCC", validators=[validate_color_hex])
    mesh_uri = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["imaging_study_id", "name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(color_hex__regex=COLOR_HEX_REGEX), name="structure_color_hex_format"),
            models.UniqueConstraint(fields=["imaging_study", "name"], name="structure_name_unique_per_study"),
        ]

    def __str__(self) -> str:
        return self.name


class IngestJob(models.Model):
    """One conversion of raw DICOM into a study and its structures, with its status for curators.

    `status` is the job's state and changes only through `imaging.services.lifecycle`, which documents
    every transition (docs/ingest-job-states.md draws them). `stage` and `progress` only describe how
    far a run got; they are never part of the state.
    """

    class Status(models.TextChoices):
        AWAITING_UPLOAD = "awaiting_upload", "Awaiting upload"  # created; its files are still arriving
        QUEUED = "queued", "Queued"  # every file stored; waiting for a worker
        RUNNING = "running", "Running"  # a worker claimed it (attempts counts the claims)
        RETRYING = "retrying", "Retrying"  # a run hit a transient error; its task retries after a backoff
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload (admin or API)"
        S3_EVENT = "s3_event", "S3 event"
        LOCAL = "local", "Local files"
        SEED = "seed", "Seed"

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="ingest_jobs")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD)
    source_bucket = models.CharField(max_length=255, blank=True)
    source_key = models.CharField(max_length=1024, blank=True, help_text="Key or prefix in the uploads storage.")
    source_etag = models.CharField(max_length=128, blank=True)
    upload_id = models.CharField(
        max_length=128,
        blank=True,
        db_index=True,
        help_text="The upload this job converts: everything under uploads/<case id>/<upload id>/.",
    )
    source_files = models.JSONField(
        default=list,
        blank=True,
        help_text="The files of the upload as [{key, name, size}]: what a curator or client sent.",
    )
    segmentation_key = models.CharField(max_length=1024, blank=True)
    labels = models.JSONField(default=dict, blank=True, help_text="Segmentation label value -> structure name.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=32, blank=True)
    progress = models.FloatField(default=0.0)
    error_code = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    checksum = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the source, for idempotency.")
    stage_seconds = models.JSONField(default=dict, blank=True, help_text="Seconds spent in each stage of the last run.")
    warnings = models.JSONField(
        default=list, blank=True, help_text="What the last successful run noticed but accepted (ignored series...)."
    )
    task_id = models.CharField(max_length=64, blank=True, help_text="Celery task id of the current or last run.")
    worker = models.CharField(max_length=255, blank=True, help_text="Worker (host:pid) running or last running it.")
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the running worker; the sweep requeues stale jobs."
    )
    reserved_study_id = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Id reserved for a new study before its row exists, so its asset keys survive a retry.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="ingest_jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["awaiting_upload", "queued", "running", "retrying", "succeeded", "failed"]),
                name="ingest_job_status_valid",
            ),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="ingest_job_progress_range"),
            models.UniqueConstraint(
                fields=["source_bucket", "source_key", "source_etag"],
                condition=~Q(source_etag=""),
                name="ingest_job_unique_s3_object",
            ),
            # Admin, API, local and seed uploads own their whole prefix: one job per upload.
            models.UniqueConstraint(
                fields=["upload_id"],
                condition=~Q(upload_id="") & ~Q(source="s3_event"),
                name="ingest_job_unique_managed_upload",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="ingest_job_status_updated")]

    def __str__(self) -> str:
        return f"Ingest job {self.pk} ({self.status})"


class ViewerBundle(models.Model):
    """A case's published bundle in the viewer storage: its folder name, and the manifest written there.

    `imaging.services.bundles` alone writes these rows. The folder is chosen once (an HMAC of the case id,
    never a name or MRN) and kept, so a case keeps its folder while it is published, archived and published
    again. `manifest` is the JSON the viewer reads from `<VIEWER_BUNDLE_PREFIX>/<folder>/manifest.json`,
    kept here so the API serves it without reading storage; empty, and `published_at` null, when the case
    has no bundle (never published, archived, back to draft).
    """

    case = models.OneToOneField("cases.Case", on_delete=models.CASCADE, related_name="viewer_bundle")
    folder = models.CharField(max_length=64, unique=True)
    manifest = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the manifest's content.")
    published_at = models.DateTimeField(null=True, blank=True)
    withheld = models.JSONField(
        default=list, blank=True, help_text="What the last build left out of the bundle, and why (no identifier)."
    )
    error = models.TextField(blank=True, help_text="Why the last build published nothing, for curators.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "viewer bundle"

    def __str__(self) -> str:
        return self.folder
