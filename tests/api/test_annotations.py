"""Annotations: create, list, edit, delete; the author is the signed-in user; limits on body and metadata."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from annotations.models import Annotation
from cases.models import Case
from tests.factories import AnnotationFactory, CaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_create_returns_201_with_the_contract_and_author_from_the_session(user_client, user):
    case = CaseFactory.create()
    other = UserFactory.create()
    payload = {
        "body": "  Tumour abuts the right portal vein.  ",
        "metadata": {"structure_id": 3, "point": [1.5, -2.0, 30.25], "camera": {"zoom": 1.2}},
        # Attempts to spoof the author or move the note are ignored.
        "author": {"id": other.pk, "username": other.username},
        "author_id": other.pk,
        "case_id": 999,
        "id": 12345,
    }
    response = user_client.post(f"/api/v1/cases/{case.pk}/annotations", payload, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "case_id", "author", "body", "metadata", "created_at", "updated_at"}
    assert body["case_id"] == case.pk
    assert body["author"] == {"id": user.pk, "username": user.username}
    assert body["body"] == "Tumour abuts the right portal vein."
    assert body["metadata"] == payload["metadata"]
    assert body["id"] != 12345
    assert response["Location"] == f"http://testserver/api/v1/annotations/{body['id']}"

    note = Annotation.objects.get(pk=body["id"])
    assert note.author_id == user.pk
    assert note.case_id == case.pk
    assert note.metadata == payload["metadata"]


def test_metadata_is_optional_and_defaults_to_an_empty_object(user_client):
    case = CaseFactory.create()
    response = user_client.post(f"/api/v1/cases/{case.pk}/annotations", {"body": "Note."}, format="json")
    assert response.status_code == 201
    assert response.json()["metadata"] == {}


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({}, "body", "required"),
        ({"body": ""}, "body", "blank"),
        ({"body": "   \n\t "}, "body", "blank"),
        ({"body": None}, "body", "null"),
        ({"body": "x" * 10_001}, "body", "10000"),
        ({"body": "ok", "metadata": [1, 2]}, "metadata", "JSON object"),
        ({"body": "ok", "metadata": "text"}, "metadata", "JSON object"),
        ({"body": "ok", "metadata": None}, "metadata", "null"),
        ({"body": "ok", "metadata": {"blob": "x" * (16 * 1024)}}, "metadata", "16384 bytes"),
        ({"body": "ok", "metadata": {"a": ["x\x00y"]}}, "metadata", "NUL"),
        ({"body": "ok", "metadata": {"k\x00": 1}}, "metadata", "NUL"),
        ({"body": "nul \x00 here"}, "body", "Null characters"),
    ],
)
def test_invalid_notes_are_400_with_a_message_and_nothing_is_saved(user_client, payload, field, fragment):
    case = CaseFactory.create()
    response = user_client.post(f"/api/v1/cases/{case.pk}/annotations", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"]
    assert fragment in " ".join(body["errors"][field])
    assert fragment in body["detail"]
    assert not Annotation.objects.exists()


def test_body_of_exactly_10000_characters_and_metadata_of_exactly_16_kb_are_accepted(user_client):
    case = CaseFactory.create()
    overhead = len(json.dumps({"blob": ""}, separators=(",", ":")))
    metadata = {"blob": "x" * (16 * 1024 - overhead)}
    response = user_client.post(
        f"/api/v1/cases/{case.pk}/annotations", {"body": "y" * 10_000, "metadata": metadata}, format="json"
    )
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("{not json", "application/json"),
        ("[" * 50_000, "application/json"),
        ('{"body": NaN}', "application/json"),
        ("body=hello", "application/x-www-form-urlencoded"),
        ("<note/>", "application/xml"),
    ],
)
def test_malformed_bodies_are_4xx_json_never_500(user_client, content, content_type):
    case = CaseFactory.create()
    response = user_client.post(f"/api/v1/cases/{case.pk}/annotations", content, content_type=content_type)
    assert response.status_code in (400, 415)
    assert response.json()["detail"]
    assert not Annotation.objects.exists()


def test_list_is_paged_newest_first_with_headers(user_client):
    case = CaseFactory.create()
    notes = [AnnotationFactory.create(case=case, body=f"note {i}") for i in range(5)]
    AnnotationFactory.create()  # on another case
    response = user_client.get(f"/api/v1/cases/{case.pk}/annotations?limit=2")
    assert response.status_code == 200
    assert [n["id"] for n in response.json()] == [notes[4].pk, notes[3].pk]
    assert response["X-Total-Count"] == "5"
    assert f"/api/v1/cases/{case.pk}/annotations?limit=2&offset=2" in response["Link"]
    assert user_client.get(f"/api/v1/cases/{case.pk}/annotations?limit=101").status_code == 400


def test_notes_on_hidden_cases_are_404(user_client, user):
    draft = CaseFactory.create(status=Case.Status.DRAFT)
    note = AnnotationFactory.create(case=draft, author=user)
    assert user_client.get(f"/api/v1/cases/{draft.pk}/annotations").status_code == 404
    assert user_client.post(f"/api/v1/cases/{draft.pk}/annotations", {"body": "x"}, format="json").status_code == 404
    assert user_client.get(f"/api/v1/annotations/{note.pk}").status_code == 404
    assert user_client.patch(f"/api/v1/annotations/{note.pk}", {"body": "x"}, format="json").status_code == 404
    assert user_client.delete(f"/api/v1/annotations/{note.pk}").status_code == 404
    assert Annotation.objects.filter(pk=note.pk).exists()


def test_staff_may_annotate_drafts(staff_client):
    draft = CaseFactory.create(status=Case.Status.DRAFT)
    assert staff_client.post(f"/api/v1/cases/{draft.pk}/annotations", {"body": "x"}, format="json").status_code == 201


def test_author_can_edit_and_delete_their_note(user_client, user):
    note = AnnotationFactory.create(author=user, metadata={"point": [1, 2, 3]})
    response = user_client.patch(f"/api/v1/annotations/{note.pk}", {"body": "Edited."}, format="json")
    assert response.status_code == 200
    assert response.json()["body"] == "Edited."
    assert response.json()["metadata"] == {"point": [1, 2, 3]}
    note.refresh_from_db()
    assert note.body == "Edited."
    assert note.author_id == user.pk

    response = user_client.patch(f"/api/v1/annotations/{note.pk}", {"metadata": {"camera": 1}}, format="json")
    assert response.json()["metadata"] == {"camera": 1}

    assert user_client.patch(f"/api/v1/annotations/{note.pk}", {"body": ""}, format="json").status_code == 400

    response = user_client.delete(f"/api/v1/annotations/{note.pk}")
    assert response.status_code == 204
    assert not Annotation.objects.filter(pk=note.pk).exists()


def test_the_author_cannot_be_changed_by_a_patch(user_client, user):
    note = AnnotationFactory.create(author=user)
    other = UserFactory.create()
    response = user_client.patch(
        f"/api/v1/annotations/{note.pk}", {"author": {"id": other.pk}, "case_id": 999}, format="json"
    )
    assert response.status_code == 200
    note.refresh_from_db()
    assert note.author_id == user.pk


def test_other_users_may_read_but_not_change_a_note(user_client):
    note = AnnotationFactory.create(body="Original.")
    assert user_client.get(f"/api/v1/annotations/{note.pk}").status_code == 200
    response = user_client.patch(f"/api/v1/annotations/{note.pk}", {"body": "Hijacked."}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "author" in response.json()["detail"]
    assert user_client.delete(f"/api/v1/annotations/{note.pk}").status_code == 403
    note.refresh_from_db()
    assert note.body == "Original."


def test_staff_may_change_and_delete_anyones_note(staff_client):
    note = AnnotationFactory.create()
    assert (
        staff_client.patch(f"/api/v1/annotations/{note.pk}", {"body": "Moderated."}, format="json").status_code == 200
    )
    note.refresh_from_db()
    assert note.body == "Moderated."
    assert staff_client.delete(f"/api/v1/annotations/{note.pk}").status_code == 204


def test_put_is_not_offered(user_client, user):
    note = AnnotationFactory.create(author=user)
    response = user_client.put(f"/api/v1/annotations/{note.pk}", {"body": "x"}, format="json")
    assert response.status_code == 405
    assert "PUT" not in response["Allow"]


def test_two_users_notes_keep_their_authors(user):
    case = CaseFactory.create()
    alice, bob = UserFactory.create(), UserFactory.create()
    for author in (alice, bob):
        _client_for(author).post(f"/api/v1/cases/{case.pk}/annotations", {"body": author.username}, format="json")
    listed = _client_for(user).get(f"/api/v1/cases/{case.pk}/annotations").json()
    assert {(n["author"]["username"], n["body"]) for n in listed} == {
        (alice.username, alice.username),
        (bob.username, bob.username),
    }


def test_oversized_bodies_are_413(user_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    case = CaseFactory.create()
    payload = json.dumps({"body": "x" * 2000})
    response = user_client.post(f"/api/v1/cases/{case.pk}/annotations", payload, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert not Annotation.objects.exists()
