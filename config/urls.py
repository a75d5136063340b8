"""Top-level URLs: the admin, the versioned API, locally signed files and the health check.

The error handlers answer JSON under /api/ and Django's usual pages elsewhere (hpb.api.errors).
"""

from django.contrib import admin
from django.urls import include, path

from hpb import views as hpb_views
from hpb.admin_login import ThrottledAdminAuthenticationForm
from imaging import views as imaging_views

admin.site.site_header = "HPB case platform"
admin.site.site_title = "HPB curation"
admin.site.index_title = "Curation"
# Sign-in attempts are throttled like the token endpoint (hpb.admin_login).
admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("hpb.api.urls")),
    path("healthz", hpb_views.healthz, name="healthz"),
    # Local stand-in for S3 presigned POSTs (filesystem uploads storage only).
    path("uploads/direct", imaging_views.direct_upload_view, name="imaging-direct-upload"),
    path("", include("hpb.urls")),
]

handler400 = "hpb.api.errors.handler400"
handler403 = "hpb.api.errors.handler403"
handler404 = "hpb.api.errors.handler404"
handler500 = "hpb.api.errors.handler500"
