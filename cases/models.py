"""Patients, encounters, cases and clinical documents: the curated side of the collection.

Field names are part of the API contract in DESIGN.md; add fields, never rename them.
"""

from django.db import models
from django.db.models import F, Q

from hpb.validators import validate_json_object, validate_string_list


class Patient(models.Model):
    """A (synthetic or de-identified research) patient. `mrn` is a patient identifier: never log it."""

    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    mrn = models.CharField("MRN", max_length=64, unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sex__in=["female", "male", "other", "unknown"]), name="patient_sex_valid"
            ),
        ]

    def __str__(self) -> str:
        # The admin shows names; logs never call str() on a patient (see hpb.logging).
        return f"{self.last_name}, {self.first_name}"


class Encounter(models.Model):
    """A visit, admission, imaging session or operation of a patient."""

    class EncounterType(models.TextChoices):
        CONSULTATION = "consultation", "Consultation"
        IMAGING = "imaging", "Imaging"
        ADMISSION = "admission", "Admission"
        SURGERY = "surgery", "Surgery"
        MDT = "mdt", "Multidisciplinary tumour board"
        FOLLOW_UP = "follow_up", "Follow-up"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="encounters")
    encounter_type = models.CharField(max_length=32, choices=EncounterType.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    facility = models.CharField(max_length=200, blank=True)
    attending = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="encounter_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["patient", "started_at"], name="encounter_patient_started")]

    def __str__(self) -> str:
        return f"{self.get_encounter_type_display()} on {self.started_at:%Y-%m-%d}"


class Case(models.Model):
    """A curated HPB case: what researchers browse, read and annotate."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cases")
    encounter = models.ForeignKey(Encounter, on_delete=models.SET_NULL, null=True, blank=True, related_name="cases")
    slug = models.SlugField(max_length=120)
    title = models.CharField(max_length=200)
    focus = models.CharField(max_length=200, blank=True, help_text="The surgical question, e.g. 'Right hepatectomy'.")
    specialty = models.CharField(max_length=32, default="HPB")
    clinical_summary = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True, validators=[validate_string_list])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    lightweight = models.BooleanField(
        default=False, help_text="Safe to show in lightweight mode (no large volumes needed)."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "slug"], name="case_slug_unique_per_patient"),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "published", "archived"]), name="case_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["specialty", "status", "-created_at"], name="case_list_idx"),
            models.Index(fields=["-created_at", "-id"], name="case_created_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        encounter = self.encounter if self.encounter_id else None
        if encounter is not None and self.patient_id and encounter.patient_id != self.patient_id:
            raise ValidationError({"encounter": "The encounter belongs to another patient."})
        if isinstance(self.tags, list):
            # Keep tags tidy: trimmed, unique, in the curator's order.
            self.tags = list(dict.fromkeys(t.strip() for t in self.tags if isinstance(t, str) and t.strip()))


class Document(models.Model):
    """A clinical document (report, letter, PDF) in the documents storage, shared by one or more cases."""

    slug = models.SlugField(max_length=160, unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    mime_type = models.CharField(max_length=100, default="text/plain")
    storage_uri = models.CharField(
        max_length=500, help_text="Stored reference (s3://bucket/key or storage://documents/key)."
    )
    metadata = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    full_text = models.TextField(blank=True, help_text="Extracted text, used for search.")
    deidentified = models.BooleanField(
        default=False,
        db_default=False,  # raw SQL and COPY writers (the search benchmark, restores) get it too
        help_text="A curator confirmed the file names no patient: only such documents leave the platform "
        "(exports, published viewer bundles).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    cases = models.ManyToManyField(Case, related_name="documents", blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title
