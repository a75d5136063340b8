"""URLs of API v1, mounted at /api/v1/ by config/urls.py, all in the `api` namespace.

Apps add their routes without touching this file: any installed app with an `api_urls.py` module
exposing `urlpatterns` is included here, in INSTALLED_APPS order (like the admin's autodiscovery).
Names are reversed as `api:<name>`, so keep them unique across apps (prefix with the resource).
Ids in paths use the `<id:...>` converter (hpb.api.converters): malformed or out-of-range ids are
plain 404s.
"""

from importlib import import_module

from django.apps import apps
from django.urls import URLPattern, URLResolver, path
from django.utils.module_loading import module_has_submodule
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from hpb.api import converters, views

converters.register()

app_name = "api"


def discover_app_routes() -> list[URLPattern | URLResolver]:
    patterns: list[URLPattern | URLResolver] = []
    for app_config in apps.get_app_configs():
        if module_has_submodule(app_config.module, "api_urls"):
            patterns += import_module(f"{app_config.name}.api_urls").urlpatterns
    return patterns


urlpatterns = [
    path("", views.APIRootView.as_view(), name="root"),
    path("config", views.ConfigView.as_view(), name="config"),
    path("auth/token", views.TokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    *discover_app_routes(),
]
