"""The demo curator: a generated password shown once, never a fixed one; HPB_DEMO_PASSWORD wins."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from seed.demo_user import CURATORS_GROUP
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db
PASSWORD_LINE = re.compile(r"generated password: (\S+)")


def _generated_password(output: str) -> str:
    match = PASSWORD_LINE.search(output)
    assert match is not None, output
    return match.group(1)


def seed_account() -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_hpb", "--cases", "0", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def no_env_password(settings):
    settings.HPB_DEMO_PASSWORD = ""
    settings.HPB_DEMO_USERNAME = "curator"


def test_generated_password_is_printed_once_and_kept(no_env_password):
    output, _ = seed_account()
    password = _generated_password(output)
    assert len(password) >= 20
    user = get_user_model().objects.get(username="curator")
    assert user.check_password(password)
    hashed = user.password

    output, _ = seed_account()
    assert not PASSWORD_LINE.search(output)
    assert password not in output
    assert "password unchanged" in output
    user.refresh_from_db()
    assert user.password == hashed


def test_generated_passwords_are_not_fixed(no_env_password):
    first = _generated_password(seed_account()[0])
    get_user_model().objects.filter(username="curator").delete()
    second = _generated_password(seed_account()[0])
    assert first != second


def test_password_from_the_environment_is_used_and_not_printed(settings):
    settings.HPB_DEMO_PASSWORD = "correct horse battery staple 42"
    output, _ = seed_account()
    assert "password from HPB_DEMO_PASSWORD" in output
    assert "correct horse" not in output
    assert get_user_model().objects.get(username="curator").check_password("correct horse battery staple 42")


def test_environment_password_resets_an_existing_account_only_when_it_differs(settings, no_env_password):
    seed_account()
    settings.HPB_DEMO_PASSWORD = "a new and long passphrase 7"
    output, _ = seed_account()
    assert "password set from HPB_DEMO_PASSWORD" in output
    user = get_user_model().objects.get(username="curator")
    assert user.check_password("a new and long passphrase 7")
    hashed = user.password
    output, _ = seed_account()
    assert "password unchanged" in output
    user.refresh_from_db()
    assert user.password == hashed


def test_weak_environment_password_is_used_with_a_warning(settings):
    settings.HPB_DEMO_PASSWORD = "123"
    _, errors = seed_account()
    assert "HPB_DEMO_PASSWORD is weak" in errors
    assert get_user_model().objects.get(username="curator").check_password("123")


def test_username_comes_from_settings(settings, no_env_password):
    settings.HPB_DEMO_USERNAME = "coordinator"
    seed_account()
    assert get_user_model().objects.filter(username="coordinator", is_staff=True).exists()


def test_demo_curator_is_staff_with_curation_permissions_only(no_env_password):
    seed_account()
    user = get_user_model().objects.get(username="curator")
    assert user.is_staff
    assert user.is_active
    assert not user.is_superuser
    assert user.groups.filter(name=CURATORS_GROUP).exists()
    for perm in (
        "cases.change_case",
        "cases.add_document",
        "cases.change_patient",
        "cases.change_encounter",
        "imaging.change_imagingstudy",
        "imaging.change_casestructure",
        "imaging.view_ingestjob",
        "annotations.change_annotation",
        "annotations.delete_annotation",
    ):
        assert user.has_perm(perm), perm
    assert not user.has_perm("auth.change_user")
    assert not user.has_perm("auth.add_group")


def test_demo_curator_can_log_in_and_curate(client, no_env_password):
    password = _generated_password(seed_account()[0])
    assert client.login(username="curator", password=password)
    case = CaseFactory.create(status="draft")
    for name in ("cases_case", "cases_document", "cases_patient", "imaging_imagingstudy", "annotations_annotation"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    assert client.get(reverse("admin:cases_case_change", args=[case.pk])).status_code == 200
    response = client.post(
        reverse("admin:cases_case_changelist"), {"action": "publish_selected", "_selected_action": [case.pk]}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "published"
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403
