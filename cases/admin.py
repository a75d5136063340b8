"""Curation of patients, cases and clinical documents in the Django admin.

Built for a research coordinator: find cases by tag, patient, status or date; see a case's documents,
imaging and structures on one page; publish or archive in bulk; upload a PDF or text file and have it
stored, typed and made searchable. Every changelist and form runs a fixed number of queries however
many rows it shows (related objects are joined, counts are subqueries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.db.models import ForeignKey, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from cases import fulltext
from cases.admin_search import FullTextSearchMixin
from cases.models import Case, Document, Encounter, Patient
from cases.services import (
    DocumentFileError,
    StatusChange,
    all_tags,
    archive_cases,
    filter_cases_by_tag,
    prepare_document_file,
    publish_cases,
    set_case_status,
    store_document_file,
)
from hpb.admin_utils import (
    EMPTY,
    contributed_inlines,
    count_subquery,
    human_size,
    pretty_json,
    signed_link,
)
from imaging.models import CaseStructure, ImagingStudy

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations  # a test requirement only: for annotations

DocumentCase = Document.cases.through


# The counts the changelists' querysets annotate (`count_subquery`), for the columns that show them.
class CaseCounts(TypedDict):
    n_documents: int
    n_studies: int
    n_structures: int


class CaseCount(TypedDict):
    n_cases: int


class PatientCounts(TypedDict):
    n_cases: int
    n_encounters: int


# --- Filters and form fields ---------------------------------------------------------------------


class TagListFilter(admin.SimpleListFilter):
    """Filter by one tag of the JSON `tags` list (PostgreSQL containment or SQLite json_each)."""

    title = "tag"
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(tag, f"{tag} ({count})") for tag, count in all_tags(Case.objects.all())]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        value = self.value()
        return filter_cases_by_tag(queryset, value) if value else queryset


class TagsField(forms.Field):
    """Tags typed as `liver, hcc, segmentectomy` (a text input) and stored as a JSON list of strings."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated, e.g. liver, hcc, segmentectomy.")
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 80}))
        super().__init__(**kwargs)

    def prepare_value(self, value: object) -> object:
        if isinstance(value, list):
            return ", ".join(str(tag) for tag in value)
        return value

    def to_python(self, value: object) -> list[str]:
        items = value if isinstance(value, list) else str(value or "").split(",")
        tags = list(dict.fromkeys(tag.strip() for tag in items if isinstance(tag, str) and tag.strip()))
        for tag in tags:
            if len(tag) > 64:
                raise forms.ValidationError(f"Tag {tag[:20]!r}... is longer than 64 characters.")
        return tags


class EncounterChoiceField(forms.ModelChoiceField):
    """Encounters labelled with their patient, so the right one is picked on a new case."""

    def label_from_instance(self, obj: Encounter) -> str:
        return f"{obj.patient} · {obj}"


class CaseAdminForm(forms.ModelForm):
    tags = TagsField()
    link_documents = forms.ModelMultipleChoiceField(
        queryset=Document.objects.order_by("title"),
        required=False,
        widget=FilteredSelectMultiple("documents", is_stacked=False),
        label="Link existing documents",
        help_text="Documents to attach to this case (remove one with the delete box in the list below).",
    )

    class Meta:
        model = Case
        fields = [
            "title",
            "slug",
            "patient",
            "encounter",
            "focus",
            "specialty",
            "status",
            "lightweight",
            "tags",
            "clinical_summary",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        encounter = self.fields.get("encounter")
        if (
            isinstance(encounter, forms.ModelChoiceField)
            and encounter.queryset is not None
            and self.instance.patient_id
        ):
            # On an existing case only that patient's encounters make sense.
            encounter.queryset = encounter.queryset.filter(patient_id=self.instance.patient_id)


# --- Inlines of the case form ---------------------------------------------------------------------


class CaseDocumentInline(admin.TabularInline):
    """The case's documents, read-only; the delete box unlinks (the document itself stays)."""

    model = DocumentCase
    verbose_name = "document"
    verbose_name_plural = "documents"
    extra = 0
    fields = ("document_title", "document_type", "document_size", "document_file")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("document")

    def has_add_permission(self, request: HttpRequest, obj: Case | None = None) -> bool:
        return False  # linking happens in the "Link existing documents" field; uploads on the document page

    @admin.display(description="Title")
    def document_title(self, link: Any) -> str:
        url = reverse("admin:cases_document_change", args=[link.document_id])
        return format_html('<a href="{}">{}</a>', url, link.document.title)

    @admin.display(description="Type")
    def document_type(self, link: Any) -> str:
        return link.document.mime_type

    @admin.display(description="Size")
    def document_size(self, link: Any) -> str:
        return human_size((link.document.metadata or {}).get("size_bytes"))

    @admin.display(description="File")
    def document_file(self, link: Any) -> str:
        return signed_link(link.document.storage_uri)


# --- Cases ---------------------------------------------------------------------------------------


@admin.register(Case)
class CaseAdmin(FullTextSearchMixin, admin.ModelAdmin):
    form = CaseAdminForm
    list_display = (
        "title",
        "slug",
        "patient_display",
        "specialty",
        "status",
        "lightweight",
        "tag_list",
        "document_count",
        "study_count",
        "structure_count",
        "created_at",
    )
    list_display_links = ("title",)
    list_select_related = ("patient",)
    list_filter = (
        "status",
        "specialty",
        "lightweight",
        TagListFilter,
        ("patient", admin.RelatedOnlyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
        ("updated_at", admin.DateFieldListFilter),
    )
    # PostgreSQL: full-text search (title, focus, tags, summary and the documents' text; web-search
    # syntax) or containment in title, slug and MRN. SQLite: containment in search_fields.
    search_fields = ("title", "slug", "patient__mrn", "clinical_summary")
    identifier_search_fields = ("title", "slug", "patient__mrn")
    full_text_filter = staticmethod(fulltext.filter_cases)
    search_help_text = (
        'Words of the title, focus, tags, clinical summary or documents ("exact phrase", or, -exclude), '
        "or part of the title, slug or patient MRN."
    )
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    autocomplete_fields = ("patient",)
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("created_at", "updated_at")
    # The imaging app contributes its studies and structures (imaging/case_inlines.py).
    inlines = (CaseDocumentInline,)
    actions = ("publish_selected", "archive_selected", "return_to_draft")
    fieldsets = (
        (None, {"fields": ("title", "slug", "patient", "encounter", "focus", "specialty")}),
        ("Publication", {"fields": ("status", "lightweight", "tags")}),
        ("Clinical summary", {"fields": ("clinical_summary",)}),
        ("Documents", {"fields": ("link_documents",)}),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def get_inlines(self, request: HttpRequest, obj: Case | None) -> tuple:
        return (*self.inlines, *contributed_inlines("cases.Case"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_documents=count_subquery(DocumentCase.objects.all(), "case"),
                n_studies=count_subquery(ImagingStudy.objects.all(), "case"),
                n_structures=count_subquery(CaseStructure.objects.all(), "case"),
            )
        )

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField[Any] | None:
        if db_field.name == "encounter":
            kwargs["form_class"] = EncounterChoiceField
            kwargs["queryset"] = Encounter.objects.select_related("patient").order_by("-started_at")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_related(self, request: HttpRequest, form: CaseAdminForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        to_link = form.cleaned_data.get("link_documents")
        if to_link:
            form.instance.documents.add(*to_link)

    # Columns ---------------------------------------------------------------------------------------

    @admin.display(description="Patient", ordering="patient__last_name")
    def patient_display(self, case: Case) -> str:
        return f"{case.patient} ({case.patient.mrn})"

    @admin.display(description="Tags")
    def tag_list(self, case: Case) -> str:
        return ", ".join(case.tags or []) or EMPTY

    @admin.display(description="Docs", ordering="n_documents")
    def document_count(self, case: WithAnnotations[Case, CaseCounts]) -> int:
        return case.n_documents

    @admin.display(description="Studies", ordering="n_studies")
    def study_count(self, case: WithAnnotations[Case, CaseCounts]) -> int:
        return case.n_studies

    @admin.display(description="Structures", ordering="n_structures")
    def structure_count(self, case: WithAnnotations[Case, CaseCounts]) -> int:
        return case.n_structures

    # Actions ---------------------------------------------------------------------------------------

    @admin.action(description="Publish selected cases", permissions=["change"])
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Case]) -> None:
        self._report(request, publish_cases(cases=queryset), "published")

    @admin.action(description="Archive selected cases", permissions=["change"])
    def archive_selected(self, request: HttpRequest, queryset: QuerySet[Case]) -> None:
        self._report(request, archive_cases(cases=queryset), "archived")

    @admin.action(description="Return selected cases to draft", permissions=["change"])
    def return_to_draft(self, request: HttpRequest, queryset: QuerySet[Case]) -> None:
        self._report(request, set_case_status(cases=queryset, status=Case.Status.DRAFT), "returned to draft")

    def _report(self, request: HttpRequest, change: StatusChange, verb: str) -> None:
        if change.changed:
            noun = "case" if change.changed == 1 else "cases"
            message = f"{change.changed} {noun} {verb}."
            if change.unchanged:
                message += f" {change.unchanged} already {'was' if change.unchanged == 1 else 'were'} {verb}."
            self.message_user(request, message, messages.SUCCESS)
        else:
            self.message_user(request, f"Nothing to do: the selected cases were already {verb}.", messages.WARNING)


# --- Documents -----------------------------------------------------------------------------------


class DocumentAdminForm(forms.ModelForm):
    upload = forms.FileField(
        required=False,
        label="File",
        help_text="A PDF or plain-text file (.txt, .md, .csv). Its text is extracted for search; "
        "uploading again replaces the stored file.",
    )

    class Meta:
        model = Document
        fields = ["title", "slug", "summary", "cases"]

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        self.prepared_file = None
        if upload:
            try:
                self.prepared_file = prepare_document_file(content=upload, filename=upload.name)
            except DocumentFileError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return upload

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if not self.instance.pk and not cleaned.get("upload") and "upload" not in self.errors:
            self.add_error("upload", "Choose the file of the new document.")
        return cleaned


@admin.register(Document)
class DocumentAdmin(FullTextSearchMixin, admin.ModelAdmin):
    form = DocumentAdminForm
    list_display = ("title", "slug", "mime_type", "size", "case_count", "created_at", "file")
    list_filter = ("mime_type", ("created_at", admin.DateFieldListFilter), ("cases", admin.RelatedOnlyFieldListFilter))
    # PostgreSQL: full-text search or containment in title and slug. SQLite: containment in search_fields.
    search_fields = ("title", "slug", "summary", "full_text")
    identifier_search_fields = ("title", "slug")
    full_text_filter = staticmethod(fulltext.filter_documents)
    search_help_text = (
        'Words of the title, summary or text ("exact phrase", or, -exclude), or part of the title or slug.'
    )
    date_hierarchy = "created_at"
    prepopulated_fields = {"slug": ("title",)}
    autocomplete_fields = ("cases",)
    readonly_fields = (
        "file",
        "mime_type",
        "size",
        "sha256",
        "storage_uri",
        "metadata_display",
        "text_preview",
        "created_at",
    )
    fieldsets = (
        (None, {"fields": ("title", "slug", "summary", "cases")}),
        ("File", {"fields": ("upload", "file", "mime_type", "size", "sha256")}),
        ("Extracted text", {"fields": ("text_preview",)}),
        ("Storage", {"fields": ("storage_uri", "metadata_display", "created_at"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return super().get_queryset(request).annotate(n_cases=count_subquery(DocumentCase.objects.all(), "document"))

    def save_model(self, request: HttpRequest, obj: Document, form: DocumentAdminForm, change: bool) -> None:
        prepared = getattr(form, "prepared_file", None)
        if prepared is None:
            super().save_model(request, obj, form, change)
            return
        # The name of the stored file must not carry an identifier of the patients of the chosen cases.
        patients = list(Patient.objects.filter(cases__in=form.cleaned_data.get("cases") or []).distinct())
        if change:
            patients += [p for p in Patient.objects.filter(cases__documents=obj).distinct() if p not in patients]
        try:
            store_document_file(document=obj, content=prepared, patients=patients)
        except DocumentFileError as exc:
            # Validation already passed; this only happens when a slug was taken meanwhile.
            self.message_user(request, str(exc), messages.ERROR)
            raise
        if not obj.full_text:
            self.message_user(
                request,
                "No text could be extracted from this file (a scanned PDF?): it is stored but not searchable.",
                messages.WARNING,
            )

    # Columns and read-only fields ------------------------------------------------------------------

    @admin.display(description="Size")
    def size(self, document: Document) -> str:
        return human_size((document.metadata or {}).get("size_bytes"))

    @admin.display(description="SHA-256")
    def sha256(self, document: Document) -> str:
        return (document.metadata or {}).get("sha256") or EMPTY

    @admin.display(description="Cases", ordering="n_cases")
    def case_count(self, document: WithAnnotations[Document, CaseCount]) -> int:
        return document.n_cases

    @admin.display(description="File")
    def file(self, document: Document) -> str:
        return signed_link(document.storage_uri, label="Open file")

    @admin.display(description="Metadata")
    def metadata_display(self, document: Document) -> str:
        return pretty_json(document.metadata)

    @admin.display(description="Text (first 2,000 characters)")
    def text_preview(self, document: Document) -> str:
        if not document.full_text:
            return EMPTY
        return format_html(
            '<pre style="white-space:pre-wrap;max-height:24em;overflow:auto">{}</pre>',
            Truncator(document.full_text).chars(2000),
        )


# --- Patients ------------------------------------------------------------------------------------


class EncounterInline(admin.TabularInline):
    model = Encounter
    extra = 0
    fields = ("encounter_type", "started_at", "ended_at", "facility", "attending")


class PatientCaseInline(admin.TabularInline):
    """The patient's cases, listed with a link; cases are edited on their own page."""

    model = Case
    extra = 0
    fields = ("title", "slug", "status", "specialty", "created_at")
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "cases"

    def has_add_permission(self, request: HttpRequest, obj: Patient | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Patient | None = None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ("__str__", "mrn", "sex", "date_of_birth", "case_count", "encounter_count", "created_at")
    list_filter = ("sex", ("created_at", admin.DateFieldListFilter))
    search_fields = ("mrn", "first_name", "last_name")
    search_help_text = "MRN, first or last name."
    readonly_fields = ("created_at", "updated_at")
    inlines = (EncounterInline, PatientCaseInline)
    fieldsets = (
        (None, {"fields": ("mrn", "first_name", "last_name", "date_of_birth", "sex")}),
        ("Notes", {"fields": ("notes",)}),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Patient]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_cases=count_subquery(Case.objects.all(), "patient"),
                n_encounters=count_subquery(Encounter.objects.all(), "patient"),
            )
        )

    @admin.display(description="Cases", ordering="n_cases")
    def case_count(self, patient: WithAnnotations[Patient, PatientCounts]) -> int:
        return patient.n_cases

    @admin.display(description="Encounters", ordering="n_encounters")
    def encounter_count(self, patient: WithAnnotations[Patient, PatientCounts]) -> int:
        return patient.n_encounters


@admin.register(Encounter)
class EncounterAdmin(admin.ModelAdmin):
    list_display = ("__str__", "patient", "encounter_type", "started_at", "ended_at", "facility", "attending")
    list_select_related = ("patient",)
    list_filter = ("encounter_type", ("started_at", admin.DateFieldListFilter))
    search_fields = ("patient__mrn", "patient__last_name", "facility", "attending")
    date_hierarchy = "started_at"
    autocomplete_fields = ("patient",)
