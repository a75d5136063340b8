"""A URLconf for the error tests: the real project plus two views that fail on purpose under /api/."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import urls as project_urls

SECRET = "secret-internal-detail-4f1c"


class FailingAPIView(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError(SECRET)


def failing_django_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(SECRET)


urlpatterns = [
    path("api/v1/test-failing-drf", FailingAPIView.as_view()),
    path("api/v1/test-failing-django", failing_django_view),
    path("", include(project_urls)),
]

handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500
