"""POST /api/v1/auth/token is throttled per client address and per username; nothing else is throttled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import environ
import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.views import APIView

from hpb.api.throttling import normalised_username
from hpb.api.views import TokenView
from hpb.settings_helpers import num_proxies, throttle_rate

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as TestResponse

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/token"
PASSWORD = "pw-for-tests-only"  # the factories' password
UNLIMITED = "1000/min"


def _stored_keys() -> list[str]:
    """The full keys in LocMemCache's store (test settings), as a backend sees them (a private attribute)."""
    backend = caches["default"]
    assert isinstance(backend, LocMemCache)
    return list(vars(backend)["_cache"])


@pytest.fixture
def throttle(settings):
    """Set the token throttle's rates and NUM_PROXIES for one test (DRF reloads its settings on change)."""

    def configure(*, address: str = UNLIMITED, username: str = UNLIMITED, proxies: int = 0) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"token": address, "token_username": username},
            "NUM_PROXIES": proxies,
        }

    return configure


def _attempt(username: str = "nobody", password: str = "wrong", **headers: Any) -> TestResponse:  # noqa: S107
    return APIClient().post(URL, {"username": username, "password": password}, format="json", **headers)


def _assert_throttled(response: TestResponse) -> None:
    assert response.status_code == 429, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == "throttled"
    assert body["detail"].startswith("Request was throttled.")
    assert 1 <= int(response["Retry-After"]) <= 60


# --- Per address ------------------------------------------------------------------------------------
def test_the_attempt_past_the_rate_from_one_address_is_a_json_429_with_retry_after(throttle):
    throttle(address="3/min")
    for i in range(3):
        assert _attempt(f"nobody-{i}").status_code == 400
    _assert_throttled(_attempt("nobody-3"))


def test_successful_and_failed_attempts_both_count(throttle, user):
    throttle(address="3/min")
    assert _attempt(user.username, PASSWORD).status_code == 200
    assert _attempt(user.username, "wrong").status_code == 400
    assert _attempt(user.username, PASSWORD).status_code == 200
    # The right password does not get through once the address is over its rate.
    _assert_throttled(_attempt(user.username, PASSWORD))


def test_requests_the_view_refuses_before_authenticating_count_too(throttle):
    """A GET (405), a malformed body (400) and an empty one all use up the address's attempts."""
    throttle(address="3/min")
    client = APIClient()
    assert client.get(URL).status_code == 405
    malformed = client.post(URL, "{not json", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "parse_error"  # the same error as without the throttle
    assert client.post(URL, [1, 2], format="json").status_code == 400  # a body with no username at all
    _assert_throttled(_attempt())


def test_another_address_is_not_throttled(throttle, user):
    throttle(address="3/min")
    for _ in range(3):
        _attempt(REMOTE_ADDR="192.0.2.1")
    _assert_throttled(_attempt(REMOTE_ADDR="192.0.2.1"))
    assert _attempt(user.username, PASSWORD, REMOTE_ADDR="192.0.2.2").status_code == 200


def test_without_proxies_x_forwarded_for_is_ignored(throttle):
    """NUM_PROXIES=0 (local default): a client cannot pose as many by writing X-Forwarded-For itself."""
    throttle(address="3/min", proxies=0)
    for i in range(3):
        _attempt(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    _assert_throttled(_attempt(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="198.51.100.99"))


def test_behind_one_proxy_the_forwarded_client_address_counts(throttle, user):
    """NUM_PROXIES=1 (production): the ALB is REMOTE_ADDR and appends the client to X-Forwarded-For."""
    throttle(address="3/min", proxies=1)
    balancer = "10.0.1.17"
    # What the client wrote itself comes before the balancer's entry and changes nothing.
    for spoofed in ("1.1.1.1", "2.2.2.2, 3.3.3.3", ""):
        forwarded = f"{spoofed}, 203.0.113.9" if spoofed else "203.0.113.9"
        assert _attempt(REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR=forwarded).status_code == 400
    _assert_throttled(_attempt(REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR="4.4.4.4, 203.0.113.9"))
    # Another client through the same balancer has its own count.
    other = _attempt(user.username, PASSWORD, REMOTE_ADDR=balancer, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert other.status_code == 200


# --- Per username -------------------------------------------------------------------------------------
def test_the_username_throttle_holds_across_addresses(throttle, user):
    throttle(username="3/min")
    for i in range(3):
        assert _attempt(user.username, "wrong", REMOTE_ADDR=f"192.0.2.{i}").status_code == 400
    # Even the right password, from a fresh address: the account is over its rate for now.
    _assert_throttled(_attempt(user.username, PASSWORD, REMOTE_ADDR="192.0.2.200"))
    # Other accounts, from an address already used, are not affected.
    assert _attempt("someone-else", "wrong", REMOTE_ADDR="192.0.2.0").status_code == 400


def test_spellings_of_one_username_share_its_count(throttle, user):
    throttle(username="3/min")
    for spelling in (user.username, f"  {user.username} ", user.username.upper()):
        assert _attempt(spelling, "wrong").status_code == 400
    _assert_throttled(_attempt(user.username, PASSWORD))


def test_numbers_count_as_the_username_they_spell(throttle):
    throttle(username="2/min")
    assert APIClient().post(URL, {"username": 123, "password": "x"}, format="json").status_code == 400
    assert _attempt("123").status_code == 400
    _assert_throttled(_attempt(" 123"))


def test_the_cache_never_holds_the_username_in_clear(throttle, user):
    throttle(address="3/min", username="3/min")
    _attempt(user.username, "wrong", REMOTE_ADDR="192.0.2.1")
    keys = _stored_keys()
    assert len(keys) == 2
    assert not any(user.username.casefold() in key.casefold() for key in keys)
    (username_key,) = (key for key in keys if "throttle_token_username_" in key)
    assert len(username_key.rsplit("_", 1)[1]) == 64  # an HMAC-SHA256 hex digest
    assert any(key.endswith("throttle_token_192.0.2.1") for key in keys)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"username": " Alice "}, "alice"),
        ({"username": "ＡＬＩＣＥ"}, "alice"),  # fullwidth letters, NFKC
        ({"username": 7}, "7"),
        ({"username": "   "}, None),
        ({"username": True}, None),
        ({"username": ["alice"]}, None),
        ({"username": None}, None),
        ({}, None),
        (["alice"], None),
        ("alice", None),
    ],
)
def test_normalised_username(data, expected):
    assert normalised_username(data) == expected


# --- Nothing else -------------------------------------------------------------------------------------
def test_other_endpoints_are_never_throttled(throttle, token_client):
    throttle(address="1/min", username="1/min")
    for _ in range(25):
        assert token_client.get("/api/v1/config").status_code == 200
        assert token_client.get("/api/v1/cases").status_code == 200
    assert _stored_keys() == []  # not even a lookup left a key behind


def _drf_views(patterns: Sequence[URLPattern | URLResolver]) -> list[type[APIView]]:
    views = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            views += _drf_views(pattern.url_patterns)
        elif hasattr(pattern.callback, "cls"):
            views.append(pattern.callback.cls)
    return views


def test_only_the_token_exchange_has_throttle_classes():
    """The list and detail endpoints are benchmarked: no throttle, hence no cache lookup, may reach them."""
    views = _drf_views(get_resolver().url_patterns)
    assert TokenView in views
    assert {view for view in views if view.throttle_classes} == {TokenView}


def test_a_throttled_attempt_creates_no_token(throttle, user):
    throttle(address="1/min")
    _attempt()
    _assert_throttled(_attempt(user.username, PASSWORD))
    assert not Token.objects.exists()


# --- Settings -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["10/min", "1/s", "5/sec", "2/second", "30/minute", "100/hour", "7/h", "1000/day"])
def test_throttle_rate_accepts_drfs_spellings(monkeypatch, value):
    monkeypatch.setenv("API_TOKEN_THROTTLE_RATE", f" {value} ")
    assert throttle_rate(environ.Env(), "API_TOKEN_THROTTLE_RATE", default="10/min") == value


@pytest.mark.parametrize(
    "value", ["", "10", "ten/min", "10/week", "10/mxyz", "0/min", "-1/min", "10 / min", "10/min/2"]
)
def test_throttle_rate_refuses_anything_else_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("API_TOKEN_THROTTLE_RATE", value)
    with pytest.raises(environ.ImproperlyConfigured, match=r"API_TOKEN_THROTTLE_RATE must be a request rate"):
        throttle_rate(environ.Env(), "API_TOKEN_THROTTLE_RATE", default="10/min")


def test_throttle_rate_default(monkeypatch):
    monkeypatch.delenv("API_TOKEN_THROTTLE_RATE", raising=False)
    assert throttle_rate(environ.Env(), "API_TOKEN_THROTTLE_RATE", default="10/min") == "10/min"


@pytest.mark.parametrize(("value", "expected"), [(None, 1), ("0", 0), ("2", 2)])
def test_num_proxies(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("API_NUM_PROXIES", raising=False)
    else:
        monkeypatch.setenv("API_NUM_PROXIES", value)
    assert num_proxies(environ.Env(), "API_NUM_PROXIES", default=1) == expected


@pytest.mark.parametrize("value", ["-1", "one", "1.5"])
def test_num_proxies_refuses_anything_but_a_count_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("API_NUM_PROXIES", value)
    with pytest.raises(environ.ImproperlyConfigured, match=r"API_NUM_PROXIES must be a whole number"):
        num_proxies(environ.Env(), "API_NUM_PROXIES", default=1)
