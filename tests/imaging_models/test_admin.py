"""Curation of imaging studies and structures: derived fields are read-only, nothing queries per row."""

import pytest
from django.urls import reverse

from imaging.models import CaseStructure, ImagingStudy
from tests.admin_helpers import assert_queries_do_not_grow, change_form_data
from tests.factories import CaseStructureFactory, ImagingStudyFactory

pytestmark = pytest.mark.django_db

STUDIES = reverse("admin:imaging_imagingstudy_changelist")
STRUCTURES = reverse("admin:imaging_casestructure_changelist")


def _study_with_structures(count: int = 2) -> ImagingStudy:
    study = ImagingStudyFactory.create()
    CaseStructureFactory.create_batch(count, imaging_study=study)
    return study


@pytest.mark.parametrize("query", ["", "?modality=CT", "?q=venous", "?o=6"])
def test_study_changelist_has_no_per_row_queries(admin_client, query):
    _study_with_structures()
    assert_queries_do_not_grow(admin_client, STUDIES + query, lambda n: [_study_with_structures() for _ in range(n)])


def test_study_changelist_counts_structures(admin_client):
    study = _study_with_structures(3)
    (row,) = admin_client.get(STUDIES).context["cl"].result_list
    assert (row.pk, row.n_structures) == (study.pk, 3)


def test_study_change_form_has_no_per_row_queries_and_derived_fields_are_read_only(admin_client):
    study = _study_with_structures()
    url = reverse("admin:imaging_imagingstudy_change", args=[study.pk])
    assert_queries_do_not_grow(admin_client, url, lambda n: CaseStructureFactory.create_batch(n, imaging_study=study))
    response = admin_client.get(url)
    form = response.context["adminform"].form
    assert set(form.fields) == {"case", "label", "modality", "acquired_at"}
    html = response.content.decode()
    assert "Download .vti" in html
    assert "&quot;dimensions&quot;" in html or '"dimensions"' in html
    data = change_form_data(response)
    data["label"] = "Arterial phase CT"
    data["volume_uri"] = "storage://assets/evil.vti"  # not a form field: ignored
    assert admin_client.post(url, data).status_code == 302
    study.refresh_from_db()
    assert study.label == "Arterial phase CT"
    assert study.volume_uri != "storage://assets/evil.vti"


def test_studies_and_structures_are_not_added_by_hand(admin_client):
    assert admin_client.get(reverse("admin:imaging_imagingstudy_add")).status_code == 403
    assert admin_client.get(reverse("admin:imaging_casestructure_add")).status_code == 403


@pytest.mark.parametrize("query", ["", "?q=structure", "?o=1"])
def test_structure_changelist_has_no_per_row_queries(admin_client, query):
    CaseStructureFactory.create()
    assert_queries_do_not_grow(admin_client, STRUCTURES + query, lambda n: CaseStructureFactory.create_batch(n))


def test_structure_change_form_edits_name_and_colour_only(admin_client):
    structure = CaseStructureFactory.create(name="label 3")
    url = reverse("admin:imaging_casestructure_change", args=[structure.pk])
    assert_queries_do_not_grow(admin_client, url, lambda n: CaseStructureFactory.create_batch(n))
    response = admin_client.get(url)
    assert set(response.context["adminform"].form.fields) == {"name", "color_hex"}
    assert "Download .vtp" in response.content.decode()
    data = change_form_data(response)
    data.update(name="portal vein", color_hex="#0000FF")
    assert admin_client.post(url, data).status_code == 302
    structure.refresh_from_db()
    assert (structure.name, structure.color_hex) == ("portal vein", "#0000FF")
    data["color_hex"] = "#00F"
    assert admin_client.post(url, data).status_code == 200
    assert CaseStructure.objects.get(pk=structure.pk).color_hex == "#0000FF"


def test_renaming_a_structure_onto_a_taken_name_is_a_form_error(admin_client):
    study = ImagingStudyFactory.create()
    CaseStructureFactory.create(imaging_study=study, name="liver")
    tumour = CaseStructureFactory.create(imaging_study=study, name="tumour")
    url = reverse("admin:imaging_casestructure_change", args=[tumour.pk])
    data = change_form_data(admin_client.get(url))
    data["name"] = "liver"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "already has a structure named" in response.content.decode()
    assert CaseStructure.objects.get(pk=tumour.pk).name == "tumour"


def test_case_form_refuses_duplicate_structure_names_in_one_study(admin_client):
    study = ImagingStudyFactory.create()
    first, second = CaseStructureFactory.create_batch(2, imaging_study=study)
    url = reverse("admin:cases_case_change", args=[study.case_id])
    data = change_form_data(admin_client.get(url))
    data["structures-0-name"] = data["structures-1-name"] = "hepatic veins"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "cannot both be named" in response.content.decode()
    original = change_form_data(admin_client.get(url))
    original["structures-0-name"] = original["structures-1-name"]  # onto the other row's current name
    response = admin_client.post(url, original)
    assert response.status_code == 200
    assert "already has a structure named" in response.content.decode()
    assert {s.name for s in CaseStructure.objects.filter(imaging_study=study)} == {first.name, second.name}
