"""Every page of the admin site answers a superuser, and no changelist or form queries per row.

The registry is walked, so a model admin added later is covered without a new test (give its model
a factory in FACTORIES to get the per-row check and the change form).
"""

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db.models import Model
from django.urls import reverse

from tests import factories
from tests.admin_helpers import assert_queries_do_not_grow, count_queries

FACTORIES: dict[str, Any] = {  # factory classes of different models
    "cases.patient": factories.PatientFactory,
    "cases.encounter": factories.EncounterFactory,
    "cases.case": factories.CaseFactory,
    "cases.document": factories.DocumentFactory,
    "imaging.imagingstudy": factories.ImagingStudyFactory,
    "imaging.casestructure": factories.CaseStructureFactory,
    "imaging.ingestjob": factories.IngestJobFactory,
    "annotations.annotation": factories.AnnotationFactory,
    "auth.user": factories.UserFactory,
}
REGISTERED = sorted(model._meta.label_lower for model in admin.site._registry)
OUR_APPS = ("cases", "imaging", "annotations")


def _model(label: str) -> type[Model]:
    return next(m for m in admin.site._registry if m._meta.label_lower == label)


def _url(label: str, view: str, *args: object) -> str:
    app, model = label.split(".")
    return reverse(f"admin:{app}_{model}_{view}", args=args)


def test_every_model_of_our_apps_is_in_the_admin():
    from django.apps import apps

    ours = {m._meta.label_lower for app in OUR_APPS for m in apps.get_app_config(app).get_models()}
    missing = ours - set(REGISTERED) - {"imaging.ingestjob"}  # the ingest job admin comes with ingestion
    assert not missing


@pytest.mark.django_db
def test_admin_index_and_app_pages(admin_client):
    assert admin_client.get(reverse("admin:index")).status_code == 200
    for app in OUR_APPS:
        assert admin_client.get(reverse("admin:app_list", args=[app])).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("label", REGISTERED)
def test_changelist_answers_without_per_row_queries(admin_client, label):
    factory = FACTORIES.get(label)
    if factory is None:
        assert count_queries(admin_client, _url(label, "changelist")) > 0
        return
    factory()
    assert_queries_do_not_grow(admin_client, _url(label, "changelist"), lambda n: factory.create_batch(n))


@pytest.mark.django_db
@pytest.mark.parametrize("label", REGISTERED)
def test_change_and_add_forms_answer(admin_client, admin_user, label):
    factory = FACTORIES.get(label)
    obj: Model | None
    if factory is not None:
        obj = factory.create()
    elif label == "auth.group":
        obj = Group.objects.create(name="Readers")
    else:
        obj = None
    if obj is not None:
        assert_queries_do_not_grow(
            admin_client, _url(label, "change", obj.pk), lambda n: factory.create_batch(n) if factory else None
        )
        assert admin_client.get(_url(label, "history", obj.pk)).status_code == 200
        assert admin_client.get(_url(label, "delete", obj.pk)).status_code == 200
    model_admin = admin.site._registry[_model(label)]
    request = type("R", (), {"user": admin_user})()
    expected = 200 if model_admin.has_add_permission(request) else 403
    assert admin_client.get(_url(label, "add")).status_code == expected
