"""Admin of the imaging app.

Imaging studies and structures (below) are derived by ingestion: curators may rename and recolour
them, or delete a bad one, but URIs, metadata and counts are read-only. The IngestJob admin belongs
to the ingestion work and lives in its own section.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from hpb.admin_utils import EMPTY, color_swatch, count_subquery, pretty_json, signed_link
from imaging.models import CaseStructure, ImagingStudy
from imaging.structure_forms import CaseStructureForm, CaseStructureInlineFormSet

# --- Imaging studies and structures (curation) ----------------------------------------------------


class StudyStructureInline(admin.TabularInline):
    model = CaseStructure
    form = CaseStructureForm
    formset = CaseStructureInlineFormSet
    fk_name = "imaging_study"
    extra = 0
    fields = ("name", "color_hex", "swatch", "volume_ml", "mesh")
    readonly_fields = ("swatch", "volume_ml", "mesh")

    def has_add_permission(self, request: HttpRequest, obj: ImagingStudy | None = None) -> bool:
        return False  # structures are created by ingestion

    @admin.display(description="Colour")
    def swatch(self, structure: CaseStructure) -> str:
        return color_swatch(structure.color_hex)

    @admin.display(description="Volume (ml)")
    def volume_ml(self, structure: CaseStructure) -> object:
        return (structure.metadata or {}).get("volume_ml", EMPTY)

    @admin.display(description="Mesh")
    def mesh(self, structure: CaseStructure) -> str:
        return signed_link(structure.mesh_uri, label="Download .vtp")


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
    def structure_count(self, study: ImagingStudy) -> int:
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
class CaseStructureAdmin(admin.ModelAdmin):
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

    @admin.display(description="Colour")
    def swatch(self, structure: CaseStructure) -> str:
        return color_swatch(structure.color_hex)

    @admin.display(description="Volume (ml)")
    def volume_ml(self, structure: CaseStructure) -> object:
        return (structure.metadata or {}).get("volume_ml", EMPTY)

    @admin.display(description="Mesh")
    def mesh(self, structure: CaseStructure) -> str:
        return signed_link(structure.mesh_uri, label="Download .vtp")

    @admin.display(description="Metadata")
    def metadata_display(self, structure: CaseStructure) -> str:
        return pretty_json(structure.metadata)
