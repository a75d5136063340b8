from django.apps import AppConfig


class CasesConfig(AppConfig):
    """Patients, encounters, curated cases and their clinical documents."""

    name = "cases"
    verbose_name = "Cases"
