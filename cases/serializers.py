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

RO = {"read_only": True}


class CaseSummarySerializer(FastReadSerializer):
    """A case as the list shows it."""

    id = serializers.IntegerField(**RO)
    slug = serializers.SlugField(**RO)
    title = serializers.CharField(**RO)
    focus = serializers.CharField(**RO, help_text="The surgical question, e.g. 'Right hepatectomy'.")
    specialty = serializers.CharField(**RO)
    created_at = serializers.DateTimeField(**RO)
    updated_at = serializers.DateTimeField(**RO)
    status = serializers.ChoiceField(choices=Case.Status.choices, **RO)
    lightweight = serializers.BooleanField(**RO, help_text="Shown in lightweight mode (needs no large volume).")
    tags = serializers.ListField(child=serializers.CharField(), **RO)


class PatientSerializer(FastReadSerializer):
    """The case's (synthetic or de-identified) patient."""

    id = serializers.IntegerField(**RO)
    mrn = serializers.CharField(**RO)
    first_name = serializers.CharField(**RO)
    last_name = serializers.CharField(**RO)
    date_of_birth = serializers.DateField(allow_null=True, **RO)
    sex = serializers.ChoiceField(choices=Patient.Sex.choices, **RO)


class DocumentSerializer(FastReadSerializer):
    """A clinical document; `storage_uri` is a short-lived URL to its file."""

    id = serializers.IntegerField(**RO)
    slug = serializers.SlugField(**RO)
    title = serializers.CharField(**RO)
    summary = serializers.CharField(**RO)
    mime_type = serializers.CharField(**RO)
    storage_uri = SignedURLField(alias="documents")
    metadata = JSONObjectField(**RO)
    created_at = serializers.DateTimeField(**RO)


class ImagingStudySerializer(FastReadSerializer):
    """A CT volume for the viewer; `volume_uri` is null in lightweight mode."""

    id = serializers.IntegerField(**RO)
    label = serializers.CharField(**RO)
    modality = serializers.CharField(**RO)
    volume_uri = SignedURLField(alias="assets", omit_in_lightweight=True)
    preview_uri = SignedURLField(alias="assets")
    format = serializers.CharField(**RO)
    metadata = JSONObjectField(**RO)
    acquired_at = serializers.DateTimeField(allow_null=True, **RO)


class StructureSerializer(FastReadSerializer):
    """A segmented structure as a `.vtp` mesh."""

    id = serializers.IntegerField(**RO)
    name = serializers.CharField(**RO)
    color_hex = serializers.RegexField(r"^#[0-9A-Fa-f]{6}$", **RO)
    mesh_uri = SignedURLField(alias="assets")
    metadata = JSONObjectField(**RO)
    imaging_study_id = serializers.IntegerField(allow_null=True, **RO)


class CaseDetailSerializer(CaseSummarySerializer):
    """A case with everything the viewer shows."""

    patient = PatientSerializer(**RO)
    encounter_id = serializers.IntegerField(allow_null=True, **RO)
    clinical_summary = serializers.CharField(**RO)
    documents = DocumentSerializer(many=True, **RO)
    imaging_studies = ImagingStudySerializer(many=True, **RO)
    structures = StructureSerializer(many=True, **RO)


class MatchedDocumentSerializer(FastReadSerializer):
    """A document of the case that matches the search."""

    id = serializers.IntegerField(**RO)
    title = serializers.CharField(**RO)


class SearchResultSerializer(FastReadSerializer):
    """One case found by the search, best first."""

    case = CaseSummarySerializer(**RO, help_text="The case summary, as the case list shows it.")
    rank = serializers.FloatField(
        **RO, help_text="Relevance (higher is better): comparable within one search, not across searches."
    )
    documents = MatchedDocumentSerializer(
        many=True, **RO, help_text="The case's documents that match the query, best first (may be empty)."
    )
    snippet = serializers.CharField(
        **RO,
        help_text=(
            "A fragment of the best matching text with every hit in <mark>...</mark>. HTML-safe: the text is "
            "escaped and the <mark> tags are the only markup."
        ),
    )
