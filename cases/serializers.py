"""The case contract of API v1 (DESIGN.md): the summary for the list, the full case for the detail.

Field names are the contract: fields may be added, never renamed or removed. These are read-only
`FastReadSerializer`s over the rows `cases.services.reading` returns (see hpb.api.fast): the declared fields
below are what the schema documents and what the representation is compiled from. Every `*_uri`
is signed on the way out (hpb.api.fields.SignedURLField); nested imaging rows are serialized here
because they only ever appear inside a case.
"""

from __future__ import annotations

from rest_framework import serializers

from cases.models import Case, Patient
from hpb.api.fast import FastReadSerializer
from hpb.api.fields import SignedURLField
from hpb.api.schema import JSONObjectField


class CaseSummarySerializer(FastReadSerializer):
    """A case as the list shows it."""

    id = serializers.IntegerField(read_only=True)
    slug = serializers.SlugField(read_only=True)
    title = serializers.CharField(read_only=True)
    focus = serializers.CharField(read_only=True, help_text="The surgical question, e.g. 'Right hepatectomy'.")
    specialty = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    status = serializers.ChoiceField(choices=Case.Status.choices, read_only=True)
    lightweight = serializers.BooleanField(
        read_only=True, help_text="Shown in lightweight mode (needs no large volume)."
    )
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)


class PatientSerializer(FastReadSerializer):
    """The case's (synthetic or de-identified) patient."""

    id = serializers.IntegerField(read_only=True)
    mrn = serializers.CharField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    date_of_birth = serializers.DateField(allow_null=True, read_only=True)
    sex = serializers.ChoiceField(choices=Patient.Sex.choices, read_only=True)


class DocumentSerializer(FastReadSerializer):
    """A clinical document; `storage_uri` is a short-lived URL to its file."""

    id = serializers.IntegerField(read_only=True)
    slug = serializers.SlugField(read_only=True)
    title = serializers.CharField(read_only=True)
    summary = serializers.CharField(read_only=True)
    mime_type = serializers.CharField(read_only=True)
    storage_uri = SignedURLField(alias="documents")
    metadata = JSONObjectField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class ImagingStudySerializer(FastReadSerializer):
    """A CT volume for the viewer; `volume_uri` is null in lightweight mode."""

    id = serializers.IntegerField(read_only=True)
    # SerializerMetaclass moves declared fields off the class, so this never hides Field.label.
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    modality = serializers.CharField(read_only=True)
    volume_uri = SignedURLField(alias="assets", omit_in_lightweight=True)
    preview_uri = SignedURLField(alias="assets")
    format = serializers.CharField(read_only=True)
    metadata = JSONObjectField(read_only=True)
    acquired_at = serializers.DateTimeField(allow_null=True, read_only=True)


class StructureSerializer(FastReadSerializer):
    """A segmented structure as a `.vtp` mesh."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    color_hex = serializers.RegexField(r"^#[0-9A-Fa-f]{6}$", read_only=True)
    mesh_uri = SignedURLField(alias="assets")
    metadata = JSONObjectField(read_only=True)
    imaging_study_id = serializers.IntegerField(allow_null=True, read_only=True)


class CaseDetailSerializer(CaseSummarySerializer):
    """A case with everything the viewer shows."""

    patient = PatientSerializer(read_only=True)
    encounter_id = serializers.IntegerField(allow_null=True, read_only=True)
    clinical_summary = serializers.CharField(read_only=True)
    documents = DocumentSerializer(many=True, read_only=True)
    imaging_studies = ImagingStudySerializer(many=True, read_only=True)
    structures = StructureSerializer(many=True, read_only=True)


class MatchedDocumentSerializer(FastReadSerializer):
    """A document of the case that matches the search."""

    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)


class SearchResultSerializer(FastReadSerializer):
    """One case found by the search, best first."""

    case = CaseSummarySerializer(read_only=True, help_text="The case summary, as the case list shows it.")
    rank = serializers.FloatField(
        read_only=True, help_text="Relevance (higher is better): comparable within one search, not across searches."
    )
    documents = MatchedDocumentSerializer(
        many=True, read_only=True, help_text="The case's documents that match the query, best first (may be empty)."
    )
    snippet = serializers.CharField(
        read_only=True,
        help_text=(
            "A fragment of the best matching text with every hit in <mark>...</mark>. HTML-safe: the text is "
            "escaped and the <mark> tags are the only markup."
        ),
    )
