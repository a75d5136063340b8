"""The last line of the JSON-errors promise: no HTML error page ever leaves /api/.

DRF's exception handler and Django's error handlers already answer JSON; this catches what they do
not see: Django's DEBUG error pages (local settings), CSRF failures of plain Django views, 405s of
`require_GET` views, or anything a future middleware returns. It sits inside CorsMiddleware so the
rewritten response still gets the CORS headers the viewer needs to read it.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from hpb.api.errors import default_code, default_message, is_api_request, json_error, not_found_message

_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After", "Vary")
_JSON_TYPES = ("application/json", "application/problem+json")


class APIErrorJSONMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not is_api_request(request):
            return response
        content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type in _JSON_TYPES:
            return response
        status = response.status_code
        # DEBUG's 404 page (local settings) stands where handler404 would have named a near route.
        message = not_found_message(request) if status == 404 else default_message(status)
        replacement = json_error(status, message, default_code(status))
        for header in _KEPT_HEADERS:
            if header in response:
                replacement[header] = response[header]
        return replacement
