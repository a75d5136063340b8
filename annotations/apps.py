from django.apps import AppConfig


class AnnotationsConfig(AppConfig):
    """Researchers' notes on cases."""

    name = "annotations"
    verbose_name = "Annotations"
