"""The case contract of API v1 (DESIGN.md): the summary for the list, the full case for the detail.

Field names are the contract: fields may be added, never renamed or removed. Every `*_uri` is
signed on the way out (hpb.api.fields.SignedURLField); nested imaging rows are serialized here
because they only ever appear inside a case.
"""

from __future__ import annotations

from rest_framework import serializers

from cases.models import Case, Document, Patient
from hpb.api.fields import SignedURLField
from hpb.api.schema import JSONObjectField
from imaging.models import CaseStructure, ImagingStudy


class CaseSummarySerializer(serializers.ModelSerializer):
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "slug",
            "title",
            "focus",
            "specialty",
            "created_at",
            "updated_at",
            "status",
            "lightweight",
            "tags",
        ]
        read_only_fields = fields


class PatientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = ["id", "mrn", "first_name", "last_name", "date_of_birth", "sex"]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer):
    storage_uri = SignedURLField(alias="documents")
    metadata = JSONObjectField(read_only=True)

    class Meta:
        model = Document
        fields = ["id", "slug", "title", "summary", "mime_type", "storage_uri", "metadata", "created_at"]
        read_only_fields = fields


class ImagingStudySerializer(serializers.ModelSerializer):
    volume_uri = SignedURLField(alias="assets", omit_in_lightweight=True)
    preview_uri = SignedURLField(alias="assets")
    metadata = JSONObjectField(read_only=True)

    class Meta:
        model = ImagingStudy
        fields = ["id", "label", "modality", "volume_uri", "preview_uri", "format", "metadata", "acquired_at"]
        read_only_fields = fields


class StructureSerializer(serializers.ModelSerializer):
    mesh_uri = SignedURLField(alias="assets")
    metadata = JSONObjectField(read_only=True)

    class Meta:
        model = CaseStructure
        fields = ["id", "name", "color_hex", "mesh_uri", "metadata", "imaging_study_id"]
        read_only_fields = fields


class CaseDetailSerializer(CaseSummarySerializer):
    patient = PatientSerializer(read_only=True)
    documents = DocumentSerializer(many=True, read_only=True)
    imaging_studies = ImagingStudySerializer(many=True, read_only=True)
    structures = StructureSerializer(many=True, read_only=True)

    class Meta(CaseSummarySerializer.Meta):
        fields = [
            *CaseSummarySerializer.Meta.fields,
            "patient",
            "encounter_id",
            "clinical_summary",
            "documents",
            "imaging_studies",
            "structures",
        ]
        read_only_fields = fields
