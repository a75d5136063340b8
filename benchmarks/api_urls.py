"""The project's URLs plus two floor views, for `benchmarks/api.py` only (see api_settings.py).

- `bench/floor`: a DRF view with the API's default authentication and permission (token auth: one
  query) answering a constant JSON object; the floor an API endpoint cannot beat.
- `bench/floor-django`: a plain Django JsonResponse without authentication; the raw framework cost,
  printed for context.
"""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config import urls as project_urls


class FloorView(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def django_floor(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/floor", FloorView.as_view()),
    path("bench/floor-django", django_floor),
    path("", include(project_urls)),
]

handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500
