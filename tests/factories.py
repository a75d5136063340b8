"""factory-boy factories for every model, shared by all test folders.

Each factory is typed with its model (`DjangoModelFactory[Case]`), so `CaseFactory.create(...)` and
`create_batch` are typed as the model; calling the class (`CaseFactory(...)`) does the same at run time
but type-checks as the factory, so typed tests use `.create()`.
"""

import datetime as dt
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.utils import timezone

from annotations.models import Annotation
from cases.models import Case, Document, Encounter, Patient
from imaging.models import CaseStructure, ImagingStudy, IngestJob


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"researcher{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-only")

    @factory.post_generation
    def save_password(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:  # noqa: N805 - factory-boy passes the object
        if create:
            obj.save()


class StaffUserFactory(UserFactory):
    username = factory.Sequence(lambda n: f"curator{n}")
    is_staff = True


class SuperUserFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True
    is_superuser = True


class PatientFactory(factory.django.DjangoModelFactory[Patient]):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"SYN-{n:06d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = factory.Faker("date_of_birth", minimum_age=30, maximum_age=85)
    sex = Patient.Sex.FEMALE


class EncounterFactory(factory.django.DjangoModelFactory[Encounter]):
    class Meta:
        model = Encounter

    patient = factory.SubFactory(PatientFactory)
    encounter_type = Encounter.EncounterType.CONSULTATION
    started_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))
    ended_at = factory.LazyAttribute(lambda e: e.started_at + dt.timedelta(hours=1))
    facility = "Synthetic University Hospital"
    attending = "Dr. A. Example"


class CaseFactory(factory.django.DjangoModelFactory[Case]):
    class Meta:
        model = Case

    patient = factory.SubFactory(PatientFactory)
    slug = factory.Sequence(lambda n: f"case-{n}")
    title = factory.Sequence(lambda n: f"Synthetic HPB case {n}")
    focus = "Right hepatectomy"
    specialty = "HPB"
    clinical_summary = "Synthetic clinical summary for tests."
    tags = factory.LazyFunction(lambda: ["liver", "synthetic"])
    status = Case.Status.PUBLISHED
    lightweight = False


class DocumentFactory(factory.django.DjangoModelFactory[Document]):
    class Meta:
        model = Document
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"document-{n}")
    title = factory.Sequence(lambda n: f"Report {n}")
    summary = "A synthetic report."
    mime_type = "text/plain"
    storage_uri = factory.LazyAttribute(lambda d: f"storage://documents/reports/{d.slug}.txt")
    metadata = factory.LazyFunction(dict)
    full_text = "Synthetic report text."

    @factory.post_generation
    def cases(obj: Document, create: bool, extracted: list[Case] | None, **kwargs: Any) -> None:  # noqa: N805
        if create and extracted:
            obj.cases.add(*extracted)


class ImagingStudyFactory(factory.django.DjangoModelFactory[ImagingStudy]):
    class Meta:
        model = ImagingStudy

    case = factory.SubFactory(CaseFactory)
    label = "Portal venous phase CT"
    modality = "CT"
    volume_uri = factory.Sequence(lambda n: f"storage://assets/cases/x/studies/{n}/volume.vti")
    preview_uri = factory.Sequence(lambda n: f"storage://assets/cases/x/studies/{n}/preview.png")
    format = "vti"
    metadata = factory.LazyFunction(lambda: {"dimensions": [64, 64, 32], "spacing": [0.8, 0.8, 2.5]})
    acquired_at = factory.LazyFunction(timezone.now)


class CaseStructureFactory(factory.django.DjangoModelFactory[CaseStructure]):
    class Meta:
        model = CaseStructure

    imaging_study = factory.SubFactory(ImagingStudyFactory)
    case = factory.LazyAttribute(lambda s: s.imaging_study.case)
    name = factory.Sequence(lambda n: f"structure-{n}")
    color_hex = "#A0522D"
    mesh_uri = factory.Sequence(lambda n: f"storage://assets/cases/x/structures/{n}.vtp")
    metadata = factory.LazyFunction(lambda: {"label": 1, "volume_ml": 1500.0})


class AnnotationFactory(factory.django.DjangoModelFactory[Annotation]):
    class Meta:
        model = Annotation

    case = factory.SubFactory(CaseFactory)
    author = factory.SubFactory(UserFactory)
    body = "Tumour abuts the right portal vein."
    metadata = factory.LazyFunction(lambda: {"point": [10.0, -5.5, 120.25]})


class IngestJobFactory(factory.django.DjangoModelFactory[IngestJob]):
    class Meta:
        model = IngestJob

    case = factory.SubFactory(CaseFactory)
    source = IngestJob.Source.UPLOAD
    source_key = factory.Sequence(lambda n: f"uploads/x/{n}/series.zip")
