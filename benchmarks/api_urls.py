"""The project's URLs plus the floor views, for `benchmarks/api.py` only (see api_settings.py).

- `bench/floor`: a DRF view with the API's default authentication and permission (token auth: one
  query) answering a constant JSON object; the floor an API endpoint cannot beat.
- `bench/floor-django`: a plain Django JsonResponse without authentication; the raw framework cost,
  printed for context.
- `bench/paths`: which read path this server runs (the benchmark checks its `--without` took effect).

Importing this module (Django does it before the first request is resolved) swaps in the plain
framework path for each specialisation named in `settings.BENCH_WITHOUT`: that is how the benchmark
measures what each one earns without an "off" branch in the production code.
"""

from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from cases.services import reading
from config import urls as project_urls
from hpb.api.fast import FastReadSerializer


def use_plain_paths(without: Iterable[str]) -> None:
    """Replace each named specialisation by the plain Django/DRF path (token: api_settings.py)."""
    for name in without:
        if name == "epoch":
            # The counted page then selects the timestamptz columns as such: psycopg's loader makes the
            # datetimes, as for every ORM query.
            reading._SUMMARY_DATETIMES = ()
        elif name == "fast":
            # DRF's field-by-field representation over the same declared fields.
            FastReadSerializer.to_representation = serializers.Serializer.to_representation  # type: ignore[method-assign]


use_plain_paths(getattr(settings, "BENCH_WITHOUT", ()))  # set by benchmarks.api_settings only


class FloorView(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def django_floor(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def read_paths(request: HttpRequest) -> JsonResponse:
    """What this server actually runs, one answer per specialisation (True: the specialised path)."""
    token_class = api_settings.DEFAULT_AUTHENTICATION_CLASSES[0]
    return JsonResponse(
        {
            "token": token_class.__module__.startswith("hpb."),
            "epoch": bool(reading._SUMMARY_DATETIMES),
            "fast": FastReadSerializer.to_representation is not serializers.Serializer.to_representation,
        }
    )


urlpatterns = [
    path("bench/floor", FloorView.as_view()),
    path("bench/floor-django", django_floor),
    path("bench/paths", read_paths),
    path("", include(project_urls)),
]

handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500
