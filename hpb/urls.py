"""URLs of the shared kernel that live outside the versioned API."""

from django.urls import path

from hpb import views

app_name = "hpb"

urlpatterns = [
    path("files/<str:alias>/<path:key>", views.serve_signed_file, name="signed-file"),
]
