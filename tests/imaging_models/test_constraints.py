"""Database constraints of the imaging models (the ingestion logic is tested elsewhere)."""

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction

from imaging.models import CaseStructure, IngestJob
from tests.factories import CaseStructureFactory, ImagingStudyFactory, IngestJobFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("color", ["#A0522D", "#ffffff", "#000000", "#0a0B0c"])
def test_color_hex_accepts_rrggbb(color):
    structure = CaseStructureFactory.create(color_hex=color)
    structure.full_clean()


@pytest.mark.parametrize("color", ["A0522D", "#A0522", "#A0522DD", "#GGGGGG", "red", "", "#a0522d\n"])
def test_color_hex_rejects_anything_else(color):
    structure = CaseStructureFactory.create()
    # The CHECK constraint refuses a bad pattern; the column length refuses what is too long.
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        CaseStructure.objects.filter(pk=structure.pk).update(color_hex=color)
    structure.color_hex = color
    with pytest.raises(ValidationError):
        structure.full_clean()


def test_structure_name_is_unique_per_study():
    study = ImagingStudyFactory.create()
    CaseStructureFactory.create(imaging_study=study, name="liver")
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseStructure.objects.create(case=study.case, imaging_study=study, name="liver")
    CaseStructureFactory.create(name="liver")  # another study may have a liver too


def test_a_series_has_at_most_one_study_per_case():
    study = ImagingStudyFactory.create(series_instance_uid="1.2.826.0.1.3680043.8.498.1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ImagingStudyFactory.create(case=study.case, series_instance_uid=study.series_instance_uid)
    duplicate = ImagingStudyFactory.build(case=study.case, series_instance_uid=study.series_instance_uid)
    with pytest.raises(ValidationError, match="already has a study of this DICOM series"):
        duplicate.full_clean()
    ImagingStudyFactory.create(series_instance_uid=study.series_instance_uid)  # the same series in another case
    ImagingStudyFactory.create(case=study.case, series_instance_uid="")  # studies without a series UID
    ImagingStudyFactory.create(case=study.case, series_instance_uid="")


@pytest.mark.parametrize("status", ["done", "", "QUEUED"])
def test_ingest_job_status_must_be_a_choice(status):
    job = IngestJobFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        IngestJob.objects.filter(pk=job.pk).update(status=status)


@pytest.mark.parametrize("progress", [-0.01, 1.01])
def test_ingest_job_progress_is_a_fraction(progress):
    job = IngestJobFactory.create()
    with pytest.raises(IntegrityError), transaction.atomic():
        IngestJob.objects.filter(pk=job.pk).update(progress=progress)


def test_deleting_a_study_deletes_its_structures_but_not_the_case():
    structure = CaseStructureFactory.create()
    case = structure.case
    assert structure.imaging_study is not None
    structure.imaging_study.delete()
    assert not CaseStructure.objects.filter(pk=structure.pk).exists()
    case.refresh_from_db()
