"""The interactive docs load Swagger UI from our own static files, never from a CDN."""

from django.urls import reverse


def test_swagger_ui_assets_are_served_locally(user_client):
    page = user_client.get(reverse("api:docs")).content.decode()
    assert "swagger-ui-bundle.js" in page
    assert "cdn.jsdelivr.net" not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
