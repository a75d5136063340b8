"""Moderating research notes in the admin: by case, by author, by words of the note."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.urls import reverse

from annotations.models import Annotation
from tests.admin_helpers import assert_queries_do_not_grow, change_form_data
from tests.factories import AnnotationFactory, CaseFactory, UserFactory

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db

NOTES = reverse("admin:annotations_annotation_changelist")


def _ids(response: TestResponse) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.mark.parametrize("query", ["", "?q=portal", "?o=2"])
def test_changelist_has_no_per_row_queries(admin_client, query):
    AnnotationFactory.create()
    assert_queries_do_not_grow(admin_client, NOTES + query, lambda n: AnnotationFactory.create_batch(n))


def test_change_and_add_forms_have_no_per_row_queries(admin_client):
    note = AnnotationFactory.create()
    url = reverse("admin:annotations_annotation_change", args=[note.pk])
    assert_queries_do_not_grow(admin_client, url, lambda n: AnnotationFactory.create_batch(n, case=note.case))
    add = reverse("admin:annotations_annotation_add")
    assert_queries_do_not_grow(admin_client, add, lambda n: AnnotationFactory.create_batch(n))


def test_filter_by_case_and_by_author_and_search_in_body(admin_client):
    case = CaseFactory.create()
    author = UserFactory.create(username="dr-fenwright")
    on_case = AnnotationFactory.create(case=case, body="Tumour abuts the portal vein")
    by_author = AnnotationFactory.create(author=author, body="Consider ICG staining")
    AnnotationFactory.create(body="Unrelated")
    assert _ids(admin_client.get(NOTES + f"?case__id__exact={case.pk}")) == {on_case.pk}
    assert _ids(admin_client.get(NOTES + f"?author__id__exact={author.pk}")) == {by_author.pk}
    assert _ids(admin_client.get(NOTES + "?q=ICG")) == {by_author.pk}
    page = admin_client.get(NOTES).content.decode()
    assert "dr-fenwright" in page
    assert case.title in page


def test_moderator_edits_the_body_but_not_the_author(admin_client):
    note = AnnotationFactory.create(body="Typo in segmnet")
    url = reverse("admin:annotations_annotation_change", args=[note.pk])
    data = change_form_data(admin_client.get(url))
    assert "author" not in data
    data["body"] = "Typo in segment"
    data["author"] = str(UserFactory.create().pk)  # ignored: read-only
    assert admin_client.post(url, data).status_code == 302
    edited = Annotation.objects.get(pk=note.pk)
    assert (edited.body, edited.author_id) == ("Typo in segment", note.author_id)


def test_note_added_in_the_admin_is_the_curators_and_metadata_must_be_an_object(admin_client, admin_user):
    case = CaseFactory.create()
    add = reverse("admin:annotations_annotation_add")
    data = change_form_data(admin_client.get(add))
    data.update(case=str(case.pk), body="Curator note", metadata="[1, 2]")
    response = admin_client.post(add, data)
    assert response.status_code == 200
    assert "Enter a JSON object." in response.content.decode()
    data["metadata"] = '{"structure": "liver"}'
    assert admin_client.post(add, data).status_code == 302
    note = Annotation.objects.get()
    assert note.author == admin_user
    assert note.metadata == {"structure": "liver"}


def test_delete_action_removes_notes(admin_client):
    notes = AnnotationFactory.create_batch(2)
    response = admin_client.post(
        NOTES, {"action": "delete_selected", "_selected_action": [n.pk for n in notes], "post": "yes"}
    )
    assert response.status_code == 302
    assert not Annotation.objects.exists()
