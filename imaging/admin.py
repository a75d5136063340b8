"""Admin of the imaging app.

Imaging studies and structures (below) are derived by ingestion: curators may rename and recolour
them, or delete a bad one, but URIs, metadata and counts are read-only. Ingest jobs (at the end)
show each conversion's status, stage, progress and error, retry or sweep them, and their add page is
the curator's DICOM upload form.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypedDict

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from hpb.admin_utils import count_subquery, pretty_json, signed_link
from imaging import (
    bundles_admin,  # noqa: F401 - contributes the case page's viewer bundle
    case_inlines,  # noqa: F401 - contributes the case page's study and structure inlines
)
from imaging.admin_display import StructureDisplayMixin
from imaging.models import CaseStructure, ImagingStudy, IngestJob
from imaging.services import lifecycle
from imaging.services.jobs import InvalidLabelsError, NamedFile, ingest_files, parse_labels
from imaging.services.sweep import sweep_stuck_jobs
from imaging.structure_forms import CaseStructureForm, CaseStructureInlineFormSet

if TYPE_CHECKING:
    from django.forms import BaseFormSet
    from django_stubs_ext import WithAnnotations


class _StructureCount(TypedDict):
    n_structures: int


# --- Imaging studies and structures (curation) ----------------------------------------------------


class StudyStructureInline(StructureDisplayMixin, admin.TabularInline):
    model = CaseStructure
    form = CaseStructureForm
    formset = CaseStructureInlineFormSet
    fk_name = "imaging_study"
    extra = 0
    fields = ("name", "color_hex", "swatch", "volume_ml", "mesh")
    readonly_fields = ("swatch", "volume_ml", "mesh")

    def has_add_permission(self, request: HttpRequest, obj: ImagingStudy | None = None) -> bool:
        return False  # structures are created by ingestion


@admin.register(ImagingStudy)
class ImagingStudyAdmin(admin.ModelAdmin):
    list_display = ("label", "case", "modality", "format", "acquired_at", "structure_count", "created_at", "volume")
    list_select_related = ("case",)
    list_filter = ("modality", "format", ("acquired_at", admin.DateFieldListFilter))
    search_fields = ("label", "case__title", "case__slug", "series_instance_uid")
    search_help_text = "Study label, case title or slug, or SeriesInstanceUID."
    date_hierarchy = "acquired_at"
    autocomplete_fields = ("case",)
    fields = (
        "case",
        "label",
        "modality",
        "acquired_at",
        "format",
        "volume",
        "preview",
        "volume_uri",
        "preview_uri",
        "series_instance_uid",
        "ingest_job",
        "metadata_display",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "format",
        "volume",
        "preview",
        "volume_uri",
        "preview_uri",
        "series_instance_uid",
        "ingest_job",
        "metadata_display",
        "created_at",
        "updated_at",
    )
    inlines = (StudyStructureInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImagingStudy]:
        return (
            super()
            .get_queryset(request)
            .annotate(n_structures=count_subquery(CaseStructure.objects.all(), "imaging_study"))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # studies come from DICOM ingestion

    @admin.display(description="Structures", ordering="n_structures")
    def structure_count(self, study: WithAnnotations[ImagingStudy, _StructureCount]) -> int:
        return study.n_structures

    @admin.display(description="Volume")
    def volume(self, study: ImagingStudy) -> str:
        return signed_link(study.volume_uri, label="Download .vti")

    @admin.display(description="Preview")
    def preview(self, study: ImagingStudy) -> str:
        return signed_link(study.preview_uri, label="Preview")

    @admin.display(description="Metadata")
    def metadata_display(self, study: ImagingStudy) -> str:
        return pretty_json(study.metadata)


@admin.register(CaseStructure)
class CaseStructureAdmin(StructureDisplayMixin, admin.ModelAdmin):
    form = CaseStructureForm
    list_display = ("name", "swatch", "case", "imaging_study", "volume_ml", "created_at", "mesh")
    list_select_related = ("case", "imaging_study")
    list_filter = ("name",)
    search_fields = ("name", "case__title", "case__slug", "imaging_study__label")
    search_help_text = "Structure name, case title or slug, or study label."
    fields = (
        "case",
        "imaging_study",
        "name",
        "color_hex",
        "swatch",
        "mesh",
        "mesh_uri",
        "metadata_display",
        "created_at",
    )
    readonly_fields = ("case", "imaging_study", "swatch", "mesh", "mesh_uri", "metadata_display", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # structures come from segmentations at ingestion

    @admin.display(description="Metadata")
    def metadata_display(self, structure: CaseStructure) -> str:
        return pretty_json(structure.metadata)


# --- Ingest jobs (ingestion) ----------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that accepts several files at once (a folder's DICOM files)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class IngestUploadForm(forms.ModelForm):
    """What a curator fills in to ingest DICOM for a case."""

    segmentation = forms.FileField(
        required=False, help_text="Optional: a DICOM SEG or a NIfTI label map (.nii / .nii.gz) on the same CT."
    )
    labels = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text='Optional: label value -> structure name as JSON, e.g. {"1": "liver", "2": "tumour"}.',
    )

    class Meta:
        model = IngestJob
        fields = ["case"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Added here, not declared on the class: a class attribute `files` would hide the form's own
        # `files` (the uploaded files), to the type checker at least. The input is still named "files".
        self.fields["files"] = MultipleFileField(
            help_text="A zip of the CT series, or its DICOM files (select several, up to 2000). Zip large series.",
        )

    def clean_labels(self) -> dict[str, str]:
        raw = (self.cleaned_data.get("labels") or "").strip()
        if not raw:
            return {}
        try:
            return parse_labels(json.loads(raw))
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"This is not valid JSON ({exc.msg}, line {exc.lineno}).") from None
        except InvalidLabelsError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(IngestJob)
class IngestJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "case_link",
        "status",
        "stage",
        "progress_percent",
        "attempts",
        "short_error",
        "source",
        "created_at",
        "finished_at",
    )
    list_display_links = ("id",)
    list_filter = ("status", "source", "error_code", "created_at")
    list_select_related = ("case",)
    autocomplete_fields = ("case",)
    search_fields = ("=id", "case__slug", "case__title", "upload_id", "error_code")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = ["retry_selected", "sweep_selected"]
    list_per_page = 50
    add_fieldsets = (
        (
            None,
            {
                "fields": ("case", "files", "segmentation", "labels"),
                "description": (
                    "The files are stored in the uploads storage (and kept), then converted into a volume "
                    "and one mesh per segmented structure. Follow the job's progress on its page."
                ),
            },
        ),
    )
    detail_fieldsets = (
        ("Job", {"fields": ("case", "status", "stage", "progress_percent", "attempts", "error_display")}),
        ("Outputs", {"fields": ("outputs",)}),
        (
            "Source",
            {
                "fields": (
                    "source",
                    "upload_id",
                    "source_bucket",
                    "source_key",
                    "source_etag",
                    "segmentation_key",
                    "labels",
                    "source_listing",
                    "checksum",
                )
            },
        ),
        (
            "Run",
            {
                "classes": ("collapse",),
                "fields": (
                    "created_by",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "heartbeat_at",
                    "worker",
                    "task_id",
                    "stage_seconds",
                    "reserved_study_id",
                ),
            },
        ),
    )

    # --- add: the upload form ------------------------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = IngestUploadForm
            kwargs["fields"] = ["case"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.detail_fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f for fieldset in self.detail_fieldsets for f in fieldset[1]["fields"]]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None and request.method == "POST":
            # Not inside the admin's usual transaction: the job must be committed before its files
            # reach the uploads bucket, so the S3 event listener knows the upload is taken.
            # Django's private non-atomic body of changeform_view, absent from django-stubs.
            return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: IngestJob, form: forms.Form, change: bool) -> None:
        if change:
            return  # jobs are records; nothing on their page is editable
        segmentation = form.cleaned_data.get("segmentation")
        job = ingest_files(
            case=form.cleaned_data["case"],
            files=[NamedFile(name=f.name, content=f, size=f.size) for f in form.cleaned_data["files"]],
            segmentation=NamedFile(name=segmentation.name, content=segmentation, size=segmentation.size)
            if segmentation
            else None,
            labels=form.cleaned_data.get("labels") or {},
            created_by=request.user,
        )
        obj.pk = job.pk
        obj.refresh_from_db()

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm[IngestJob], formsets: list[BaseFormSet[Any]], change: bool
    ) -> None:
        """Nothing related to save: the service created the job."""

    def response_add(self, request: HttpRequest, obj: IngestJob, post_url_continue: str | None = None) -> HttpResponse:
        """Straight to the job's page, where its status, progress and error show."""
        self.message_user(request, f"The files are stored; ingest job {obj.pk} is {obj.get_status_display().lower()}.")
        return HttpResponseRedirect(reverse("admin:imaging_ingestjob_change", args=[obj.pk]))

    # --- list columns ---------------------------------------------------------------------------

    @admin.display(description="case", ordering="case__title")
    def case_link(self, job: IngestJob) -> str:
        try:
            url = reverse("admin:cases_case_change", args=[job.case_id])
        except NoReverseMatch:
            return job.case.title
        return format_html('<a href="{}">{}</a>', url, job.case.title)

    @admin.display(description="progress", ordering="progress")
    def progress_percent(self, job: IngestJob) -> str:
        return f"{job.progress * 100:.0f}%"

    @admin.display(description="error")
    def short_error(self, job: IngestJob) -> str:
        if not job.error:
            return ""
        text = job.error if len(job.error) <= 90 else job.error[:87] + "..."
        return format_html('<span title="{}">{}</span>', job.error, text)

    # --- detail fields --------------------------------------------------------------------------

    @admin.display(description="error")
    def error_display(self, job: IngestJob) -> str:
        if not job.error:
            return "-"
        return format_html(
            '<div style="white-space: pre-wrap; max-width: 60em"><strong>{}</strong><br>{}</div>',
            job.error_code or "error",
            job.error,
        )

    @admin.display(description="studies and structures")
    def outputs(self, job: IngestJob) -> str:
        studies = list(job.studies.all())
        if not studies:
            return "-"
        structures = CaseStructure.objects.filter(imaging_study__in=studies).order_by("imaging_study_id", "name")
        names: dict[int | None, list[str]] = {}
        for structure in structures:
            names.setdefault(structure.imaging_study_id, []).append(structure.name)
        return format_html_join(
            "",
            "<div>Study {}: {} ({})</div>",
            ((s.pk, s.label, ", ".join(names.get(s.pk, [])) or "no structures") for s in studies),
        )

    @admin.display(description="files")
    def source_listing(self, job: IngestJob) -> str:
        if not job.source_files:
            return "-"
        return format_html_join(
            "",
            "<div>{} &rarr; <code>{}</code></div>",
            ((f.get("name") or "", f.get("key", "")) for f in job.source_files[:200]),
        )

    # --- actions ------------------------------------------------------------------------------------

    @admin.action(description="Retry the selected jobs (failed or succeeded; re-running replaces outputs)")
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[IngestJob]) -> None:
        retried = [job_id for job_id in queryset.values_list("pk", flat=True) if lifecycle.retry(job_id=job_id)]
        skipped = queryset.count() - len(retried)
        if retried:
            self.message_user(request, f"{len(retried)} job(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} job(s) left alone: they are awaiting their upload, queued, running or retrying.",
                messages.WARNING,
            )

    @admin.action(description="Requeue or fail the selected jobs if they are stuck")
    def sweep_selected(self, request: HttpRequest, queryset: QuerySet[IngestJob]) -> None:
        report = sweep_stuck_jobs(queryset=queryset)
        self.message_user(request, f"Sweep: {report}.", messages.INFO)
