"""Seeded cases get the phantom's study and structures through the ingest pipeline, once."""

from __future__ import annotations

import pytest

from imaging.models import CaseStructure, ImagingStudy, IngestJob
from imaging.services.seeding import seed_case_imaging
from tests.factories import CaseFactory
from tests.ingest.conftest import stored_keys

pytestmark = pytest.mark.django_db


def test_a_seeded_case_gets_a_study_and_the_phantoms_structures(case):
    job = seed_case_imaging(case=case, size="small")

    assert job is not None
    assert job.source == IngestJob.Source.SEED
    assert job.status == IngestJob.Status.SUCCEEDED
    study = ImagingStudy.objects.get(case=case)
    assert study.metadata["dimensions"] == [96, 96, 48]
    names = set(CaseStructure.objects.filter(imaging_study=study).values_list("name", flat=True))
    assert {"liver", "tumour", "portal vein", "hepatic veins", "pancreas", "bile ducts"} <= names


def test_seeding_again_changes_nothing(case):
    first = seed_case_imaging(case=case, size="small")
    keys = stored_keys("assets"), stored_keys("uploads")

    again = seed_case_imaging(case=case, size="small")

    assert again == first
    assert IngestJob.objects.count() == 1
    assert ImagingStudy.objects.count() == 1
    assert (stored_keys("assets"), stored_keys("uploads")) == keys


def test_each_case_gets_its_own_deterministic_phantom():
    first, second = CaseFactory.create(slug="whipple-1"), CaseFactory.create(slug="hepatectomy-2")
    seed_case_imaging(case=first, size="small")
    seed_case_imaging(case=second, size="small")
    uids = list(ImagingStudy.objects.order_by("case_id").values_list("series_instance_uid", flat=True))
    assert len(set(uids)) == 2


def test_size_none_seeds_no_imaging(case):
    assert seed_case_imaging(case=case, size="none") is None
    assert not IngestJob.objects.exists()


def _seed(*args: str) -> str:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("seed_hpb", "--cases", "2", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_seed_hpb_gives_every_case_imaging_once():
    from cases.models import Case

    output = _seed("--imaging-size", "small")
    counts = ImagingStudy.objects.count(), CaseStructure.objects.count(), IngestJob.objects.count()
    keys = stored_keys("assets"), stored_keys("uploads")
    _seed("--imaging-size", "small")

    assert "Imaging (small phantom): 2 studies" in output
    assert set(ImagingStudy.objects.values_list("case_id", flat=True)) == set(Case.objects.values_list("pk", flat=True))
    assert counts[0] == 2
    assert counts[1] >= 12
    assert (ImagingStudy.objects.count(), CaseStructure.objects.count(), IngestJob.objects.count()) == counts
    assert (stored_keys("assets"), stored_keys("uploads")) == keys
    assert set(IngestJob.objects.values_list("source", "status")) == {("seed", "succeeded")}


def test_seed_hpb_without_imaging():
    output = _seed("--imaging-size", "none")
    assert "Imaging" not in output
    assert not IngestJob.objects.exists()
