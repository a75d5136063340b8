"""Feature flags that depend on the server configuration and on the request.

Lightweight mode exists for thin clients and slow links: only cases marked `lightweight` are listed
or served, and the large CT volume URLs are left out. The server flag
(`FEATURE_FLAG_LIGHTWEIGHT_MODE`) forces it on for every request; otherwise the viewer turns it on
per request with `?lightweight=true`. The server flag cannot be turned off by a request.
"""

from django.conf import settings
from django.http import HttpRequest
from rest_framework.exceptions import ValidationError

LIGHTWEIGHT_PARAM = "lightweight"
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_CACHE_ATTR = "_hpb_lightweight_mode"


def lightweight_forced() -> bool:
    """True when the server flag forces lightweight mode on for everyone."""
    return bool(settings.FEATURE_FLAG_LIGHTWEIGHT_MODE)


def requested_lightweight(request: HttpRequest) -> bool | None:
    """The request's own `?lightweight=` toggle: True, False, or None when absent.

    An unreadable value is a 400 rather than silently "off": a viewer that sent `lightweight=yes`
    expects small responses and must learn that it did not get them.
    """
    raw = request.GET.get(LIGHTWEIGHT_PARAM)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError({LIGHTWEIGHT_PARAM: [f"Expected true or false, got {raw[:40]!r}."]})


def lightweight_mode(request: HttpRequest) -> bool:
    """Whether this request is served in lightweight mode (server flag OR the request's toggle).

    The parameter is validated even when the server flag is on, so a bad value is always a 400.
    The answer is memoised on the request because the view, the serializer and the config
    endpoint all ask.
    """
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    requested = requested_lightweight(request)
    result = lightweight_forced() or bool(requested)
    setattr(request, _CACHE_ATTR, result)
    return result
