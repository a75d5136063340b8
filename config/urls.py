"""Top-level URLs: the admin, the versioned API, locally signed files and the health check."""

from django.contrib import admin
from django.urls import include, path

from hpb import views as hpb_views

admin.site.site_header = "HPB case platform"
admin.site.site_title = "HPB curation"
admin.site.index_title = "Curation"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", hpb_views.healthz, name="healthz"),
    path("", include("hpb.urls")),
]
