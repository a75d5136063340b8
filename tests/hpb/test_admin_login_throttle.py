"""The admin's sign-in form is throttled per address and per username, like the token endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import Client

if TYPE_CHECKING:  # what the test client returns
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = pytest.mark.django_db

URL = "/admin/login/?next=/admin/"
PASSWORD = "pw-for-tests-only"  # the factories' password
UNLIMITED = "1000/min"
THROTTLED = "Too many sign-in attempts"


@pytest.fixture
def rates(settings):
    def configure(*, address: str = UNLIMITED, username: str = UNLIMITED) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"admin_login": address, "admin_login_username": username},
        }

    return configure


def _sign_in(
    username: str,
    password: str = "wrong",  # noqa: S107
    address: str = "192.0.2.10",
) -> tuple[Client, TestResponse]:
    client = Client(REMOTE_ADDR=address)
    response = client.post(URL, {"username": username, "password": password})
    return client, response


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_past_the_rate_the_form_says_how_long_to_wait_and_tries_no_password(rates, superuser):
    rates(address="3/min")
    for i in range(3):
        _, refused = _sign_in(f"nobody-{i}")
        assert refused.status_code == 200
        assert THROTTLED not in refused.content.decode()

    client, throttled = _sign_in(superuser.username, PASSWORD)  # the right password, too late

    page = throttled.content.decode()
    assert throttled.status_code == 200  # the ordinary sign-in page, with the message
    assert THROTTLED in page
    assert "Try again in" in page and "seconds" in page
    assert not _signed_in(client)


def test_another_address_may_still_sign_in(rates, superuser):
    rates(address="2/min")
    for _ in range(2):
        _sign_in("nobody")

    client, response = _sign_in(superuser.username, PASSWORD, address="198.51.100.4")

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert _signed_in(client)


def test_the_username_limit_holds_across_addresses_and_spellings(rates, superuser):
    rates(username="2/min")
    _sign_in(superuser.username, address="192.0.2.1")
    _sign_in(f"  {superuser.username.upper()} ", address="192.0.2.2")

    client, response = _sign_in(superuser.username, PASSWORD, address="192.0.2.3")

    assert THROTTLED in response.content.decode()
    assert not _signed_in(client)
    _, other = _sign_in("someone-else", address="192.0.2.4")
    assert THROTTLED not in other.content.decode()


def test_counts_are_separate_from_the_token_endpoints(settings, superuser):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "token": "1/min",
            "token_username": "1/min",
            "admin_login": UNLIMITED,
            "admin_login_username": UNLIMITED,
        },
    }
    api = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(2):
        api.post("/api/v1/auth/token", {"username": superuser.username, "password": "wrong"})
    assert api.post("/api/v1/auth/token", {"username": "x", "password": "y"}).status_code == 429

    client, response = _sign_in(superuser.username, PASSWORD)

    assert response.status_code == 302
    assert _signed_in(client)


def test_the_cache_never_holds_the_username(rates, superuser):
    rates()
    _sign_in(superuser.username)

    backend = caches["default"]
    assert isinstance(backend, LocMemCache)  # local memory in tests (config.settings.test)
    keys = list(backend._cache.keys())  # type: ignore[attr-defined]  # the store is private; no stubs
    assert any("admin_login_username" in key for key in keys)
    assert not any(superuser.username.lower() in key.lower() for key in keys)
