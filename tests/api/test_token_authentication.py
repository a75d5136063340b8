"""hpb.api.authentication.TokenAuthentication answers exactly as DRF's, with one once-written statement."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from rest_framework import authentication as drf_authentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient

from hpb.api import authentication
from tests.factories import CaseFactory, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db


Outcome = tuple[Any, Any] | str


def _both(key: str) -> tuple[Outcome, Outcome]:
    """(ours, DRF's) outcome for `key`: the (user, token) pair or the failure message."""

    def run(auth: drf_authentication.TokenAuthentication) -> Outcome:
        try:
            return auth.authenticate_credentials(key)
        except AuthenticationFailed as failure:
            return str(failure.detail)

    return run(authentication.TokenAuthentication()), run(drf_authentication.TokenAuthentication())


def _fields(instance: Model) -> dict[str, Any]:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_the_fast_lookup_is_used_on_postgresql():
    assert connection.vendor == "postgresql"
    assert authentication._statement("default") is not None


@pytest.mark.parametrize("factory", [UserFactory, StaffUserFactory])
def test_a_valid_token_gives_the_same_user_and_token_as_drf(factory: type[UserFactory]) -> None:
    token = Token.objects.create(user=factory.create())
    ours_outcome, drf_outcome = _both(token.key)
    assert not isinstance(ours_outcome, str) and not isinstance(drf_outcome, str)
    (user, ours), (drf_user, theirs) = ours_outcome, drf_outcome
    assert ours == theirs == token
    assert user == drf_user == token.user
    assert _fields(user) == _fields(drf_user)
    assert _fields(ours) == _fields(theirs)
    assert ours.user is user  # the related user comes with the token, as select_related gives it
    assert not user._state.adding
    assert user._state.db == "default"
    user.first_name = "Saved"
    user.save(update_fields=["first_name"])  # a real, saveable instance
    token.user.refresh_from_db()
    assert token.user.first_name == "Saved"


def test_refusals_are_drfs():
    inactive = Token.objects.create(user=UserFactory.create(is_active=False))
    assert _both(inactive.key) == ("User inactive or deleted.", "User inactive or deleted.")
    assert _both("0" * 40) == ("Invalid token.", "Invalid token.")
    assert _both("") == ("Invalid token.", "Invalid token.")


@pytest.mark.parametrize("key", ["a" * 41, "abc\x00def", "x" * 10_000])
def test_impossible_keys_are_refused_without_a_query(key):
    with CaptureQueriesContext(connection) as queries, pytest.raises(AuthenticationFailed, match="Invalid token."):
        authentication.TokenAuthentication().authenticate_credentials(key)
    assert queries.captured_queries == []


def test_token_requests_cost_one_query_for_authentication():
    CaseFactory.create_batch(3)
    token = Token.objects.create(user=UserFactory.create())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/config")
    assert response.status_code == 200
    assert len(queries.captured_queries) == 1
    assert token.key in queries.captured_queries[0]["sql"]


def test_a_token_of_a_deactivated_user_stops_working():
    token = Token.objects.create(user=UserFactory.create())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/config").status_code == 200
    token.user.is_active = False
    token.user.save()
    response = client.get("/api/v1/config")
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."
