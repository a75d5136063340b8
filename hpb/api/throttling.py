"""Throttles of the password-to-token exchange (POST /api/v1/auth/token), on DRF's own machinery.

The endpoint is unauthenticated and checks a password, so without a limit it is an open guessing
oracle. Two DRF throttles guard it; both count every attempt, successful or not, because DRF checks
throttles before the view runs:

- `TokenAddressThrottle` ("token" rate): attempts per client address, the address being what DRF's
  `get_ident` makes of REMOTE_ADDR and X-Forwarded-For under the NUM_PROXIES setting;
- `TokenUsernameThrottle` ("token_username" rate): attempts per submitted username, whatever the
  address, so a guesser spread over many addresses is still slowed on any one account. The cache
  key holds a keyed hash of the username, never the name itself.

Only this view uses them (no DEFAULT_THROTTLE_CLASSES): the other endpoints make no cache lookup.
The admin's sign-in form checks passwords too and is throttled the same way, on counters of its own
(`AdminLoginAddressThrottle`, `AdminLoginUsernameThrottle`; see hpb.admin_login). The counters live in
Django's default cache (CACHE_URL).
"""

from __future__ import annotations

import unicodedata
from typing import Any, cast

from django.utils.crypto import salted_hmac
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

_USERNAME_KEY_SALT = "hpb.api.throttling.TokenUsernameThrottle"


class _SettingsRateThrottle(SimpleRateThrottle):
    """A SimpleRateThrottle whose rate is looked up when it is built, not when the class was defined.

    DRF's `THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES` is bound at import, so a settings
    change made afterwards (override_settings in tests) would never reach it. DRF builds a fresh
    throttle for every request, so reading here costs one dictionary lookup.
    """

    def get_rate(self) -> str | None:
        # Rates are "number/period" strings (or None); the stubs type the setting for numbers.
        self.THROTTLE_RATES = cast(dict[str, str | None], api_settings.DEFAULT_THROTTLE_RATES)
        return super().get_rate()


class TokenAddressThrottle(_SettingsRateThrottle):
    """Token-exchange attempts per client address."""

    scope = "token"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        # Not DRF's AnonRateThrottle: the view authenticates nobody, and a stale session must not
        # lift the limit, so the address is the key whoever the request claims to be.
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TokenUsernameThrottle(_SettingsRateThrottle):
    """Token-exchange attempts per submitted username, from any address."""

    scope = "token_username"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        # Reading request.data parses the body here, before the view does. A body that does not parse
        # raises the same ParseError (400) the view would have raised; the request has already been
        # counted against its address by then.
        return self._username_key(request.data)

    def _username_key(self, data: Any) -> str | None:
        username = normalised_username(data)
        if username is None:
            return None  # nothing to count against: the form or view refuses the request as invalid
        # Keyed with SECRET_KEY, so someone reading the cache cannot confirm a guessed username.
        digest = salted_hmac(_USERNAME_KEY_SALT, username, algorithm="sha256").hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}


class AdminLoginAddressThrottle(TokenAddressThrottle):
    """Admin sign-in attempts per client address (a plain Django request: only META is read)."""

    scope = "admin_login"


class AdminLoginUsernameThrottle(TokenUsernameThrottle):
    """Admin sign-in attempts per submitted username, from any address (read from the form's POST)."""

    scope = "admin_login_username"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        return self._username_key(request.POST)


def normalised_username(data: Any) -> str | None:
    """The username AuthTokenSerializer would try, reduced so its spellings share one counter.

    The serializer's CharField strips surrounding whitespace and accepts numbers, so " alice " and
    "alice" (and 123 and "123") are one account and must be one counter. Case-folding and NFKC go
    further than the lookup does (usernames are case-sensitive), on purpose: a guesser gains nothing
    from variants, while real users named "Alice" and "alice" would merely share a limit.
    """
    if not hasattr(data, "get"):
        return None  # a JSON array or scalar body: no username at all
    value = data.get("username")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    username = unicodedata.normalize("NFKC", str(value)).strip().casefold()
    return username or None
