"""Moderation of research notes: browse by case or author, search the text, edit or remove."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator

from annotations.models import Annotation
from hpb.admin_utils import pretty_json


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ("excerpt", "case", "author", "created_at", "updated_at")
    list_select_related = ("case", "author")
    list_filter = (
        ("case", admin.RelatedOnlyFieldListFilter),
        ("author", admin.RelatedOnlyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("body",)
    search_help_text = "Words of the note."
    date_hierarchy = "created_at"
    autocomplete_fields = ("case",)
    fields = ("case", "author", "body", "metadata", "metadata_display", "created_at", "updated_at")
    readonly_fields = ("author", "metadata_display", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Annotation]:
        return super().get_queryset(request).select_related("case", "author")

    def save_model(self, request: HttpRequest, obj: Annotation, form: Any, change: bool) -> None:
        if not change and request.user.is_authenticated:
            obj.author = request.user  # a note typed in the admin is the curator's own
        super().save_model(request, obj, form, change)

    @admin.display(description="Note")
    def excerpt(self, annotation: Annotation) -> str:
        return Truncator(annotation.body).chars(80)

    @admin.display(description="Metadata (formatted)")
    def metadata_display(self, annotation: Annotation) -> str:
        return pretty_json(annotation.metadata)
