"""Middleware of the shared kernel."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from hpb.views import healthz


class HealthCheckMiddleware:
    """Answer `/healthz` before host validation and the HTTPS redirect.

    The load balancer probes each container by its private IP over plain HTTP, a Host that
    ALLOWED_HOSTS rightly refuses; the probe must still learn whether the database answers.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            return healthz(request)
        return self.get_response(request)
