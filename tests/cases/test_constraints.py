"""Database constraints of the cases app, checked at the database (IntegrityError) and by full_clean."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cases.models import Case, Document, Encounter, Patient
from tests.factories import CaseFactory, DocumentFactory, EncounterFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _integrity_error(action: Callable[[], object]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        action()


def test_mrn_is_unique():
    PatientFactory.create(mrn="SYN-1")
    _integrity_error(lambda: Patient.objects.create(mrn="SYN-1", first_name="A", last_name="B"))
    with pytest.raises(ValidationError, match="MRN already exists"):
        Patient(mrn="SYN-1", first_name="A", last_name="B").full_clean()


def test_patient_sex_must_be_a_choice():
    patient = PatientFactory.create()
    _integrity_error(lambda: Patient.objects.filter(pk=patient.pk).update(sex="robot"))


def test_case_slug_is_unique_per_patient_but_not_globally():
    first = CaseFactory.create(slug="hcc-01")
    _integrity_error(lambda: Case.objects.create(patient=first.patient, slug="hcc-01", title="Again"))
    other = CaseFactory.create(slug="hcc-01")  # another patient may reuse the slug
    assert other.patient_id != first.patient_id
    with pytest.raises(ValidationError, match="Patient and Slug already exists"):
        Case(patient=first.patient, slug="hcc-01", title="Again").full_clean()


@pytest.mark.parametrize("status", ["", "deleted", "PUBLISHED"])
def test_case_status_must_be_a_choice(status):
    case = CaseFactory.create()
    _integrity_error(lambda: Case.objects.filter(pk=case.pk).update(status=status))


def test_case_status_choices_are_the_contract():
    assert Case.Status.values == ["draft", "published", "archived"]
    assert Case._meta.get_field("status").default == "draft"


def test_case_list_index_exists():
    indexes = {index.name: index.fields for index in Case._meta.indexes}
    assert indexes["case_list_idx"] == ["specialty", "status", "-created_at"]


def test_document_slug_is_unique():
    DocumentFactory.create(slug="ct-report")
    _integrity_error(lambda: Document.objects.create(slug="ct-report", title="x", storage_uri="storage://documents/x"))


def test_encounter_must_end_after_it_starts():
    encounter = EncounterFactory.create()
    earlier = encounter.started_at - dt.timedelta(minutes=1)
    _integrity_error(lambda: Encounter.objects.filter(pk=encounter.pk).update(ended_at=earlier))
    encounter.ended_at = earlier
    with pytest.raises(ValidationError):
        encounter.full_clean()


def test_encounter_may_be_open_or_end_when_it_starts():
    encounter = EncounterFactory.create(ended_at=None)
    encounter.ended_at = encounter.started_at
    encounter.save()
    encounter.full_clean()


def test_case_encounter_must_belong_to_the_case_patient():
    case = CaseFactory.create()
    case.encounter = EncounterFactory.create()  # another patient's
    with pytest.raises(ValidationError, match="another patient"):
        case.full_clean()


def test_tags_must_be_a_list_of_strings():
    case = CaseFactory.build(patient=PatientFactory.create())
    for bad in ({"a": 1}, ["ok", ""], ["ok", 3], ["x" * 65]):
        case.tags = bad
        with pytest.raises(ValidationError):
            case.full_clean()


def test_patient_cannot_be_deleted_while_cases_refer_to_it():
    from django.db.models import ProtectedError

    case = CaseFactory.create()
    with pytest.raises(ProtectedError):
        case.patient.delete()
