"""The admin's sign-in form, throttled like the token endpoint.

The admin holds patient identifiers and its sign-in checks a password, so unlimited attempts would
make it a guessing oracle, exactly like POST /api/v1/auth/token. The form asks the same DRF throttle
classes (hpb.api.throttling), on counters of its own, before it checks the password: past the rate a
curator sees the ordinary sign-in page with a message saying how long to wait, and the password is
not even tried. Every attempt counts, successful or not.
"""

from __future__ import annotations

import math

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from hpb.api.throttling import AdminLoginAddressThrottle, AdminLoginUsernameThrottle


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """Django's admin sign-in form, refusing before authentication once a throttle's rate is reached."""

    def clean(self) -> dict:
        if self.request is not None:
            wait = _throttled_wait(self.request)
            if wait is not None:
                raise ValidationError(
                    "Too many sign-in attempts from this address or for this user. Try again in %(seconds)s seconds.",
                    code="throttled",
                    params={"seconds": wait},
                )
        return super().clean()


def _throttled_wait(request: HttpRequest) -> int | None:
    """Seconds to wait when a throttle refuses this attempt, else None (and the attempt is counted)."""
    waits = []
    for throttle in (AdminLoginAddressThrottle(), AdminLoginUsernameThrottle()):
        # Like DRF's view: every throttle sees every attempt, so both counts stay true. DRF types the
        # arguments for its views (a Request, an APIView); these two throttles read only the plain
        # request's META and POST, and no view.
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]
            waits.append(throttle.wait() or 1)
    return max(1, math.ceil(max(waits))) if waits else None
