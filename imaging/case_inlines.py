"""The imaging app's part of the case page in the admin: the case's studies and structures, inline.

Contributed through `hpb.admin_utils.contribute_inline`, so the case admin lists them without
importing this app's admin (and this module needs nothing of the case admin but its model's label).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from cases.models import Case
from hpb.admin_utils import EMPTY, contribute_inline, format_number, signed_link
from imaging.admin_display import StructureDisplayMixin
from imaging.models import CaseStructure, ImagingStudy
from imaging.structure_forms import CaseStructureForm, CaseStructureInlineFormSet


@contribute_inline("cases.Case")
class ImagingStudyInline(admin.TabularInline):
    """Studies come from ingestion: the label, modality and date are editable, the rest is derived."""

    model = ImagingStudy
    extra = 0
    fields = ("label", "modality", "acquired_at", "format", "grid", "structure_count", "volume", "preview")
    readonly_fields = ("format", "grid", "structure_count", "volume", "preview")
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImagingStudy]:
        return super().get_queryset(request).annotate(n_structures=Count("structures"))

    def has_add_permission(self, request: HttpRequest, obj: Case | None = None) -> bool:
        return False  # studies are created by DICOM ingestion, never typed in

    @admin.display(description="Grid")
    def grid(self, study: ImagingStudy) -> str:
        return _grid_summary(study.metadata)

    @admin.display(description="Structures")
    def structure_count(self, study: ImagingStudy) -> int:
        return getattr(study, "n_structures", 0)

    @admin.display(description="Volume")
    def volume(self, study: ImagingStudy) -> str:
        return signed_link(study.volume_uri, label="Download .vti")

    @admin.display(description="Preview")
    def preview(self, study: ImagingStudy) -> str:
        return signed_link(study.preview_uri, label="Preview")


@contribute_inline("cases.Case")
class CaseStructureInline(StructureDisplayMixin, admin.TabularInline):
    """Segmented structures: name and colour are the curator's; mesh and measurements are derived."""

    model = CaseStructure
    form = CaseStructureForm
    formset = CaseStructureInlineFormSet
    extra = 0
    fields = ("name", "color_hex", "swatch", "study_label", "volume_ml", "mesh_size", "mesh")
    readonly_fields = ("swatch", "study_label", "volume_ml", "mesh_size", "mesh")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CaseStructure]:
        return super().get_queryset(request).select_related("imaging_study")

    def has_add_permission(self, request: HttpRequest, obj: Case | None = None) -> bool:
        return False  # structures are created by DICOM ingestion

    @admin.display(description="Study")
    def study_label(self, structure: CaseStructure) -> str:
        return structure.imaging_study.label if structure.imaging_study else EMPTY


def _grid_summary(metadata: dict | None) -> str:
    meta = metadata or {}
    dims, spacing = meta.get("dimensions"), meta.get("spacing")
    if not dims:
        return EMPTY
    text = " × ".join(str(d) for d in dims)
    if spacing:
        text += " @ " + " × ".join(format_number(s) for s in spacing) + " mm"
    return text
