from django.apps import AppConfig


class ImagingConfig(AppConfig):
    """Imaging studies, segmented structures and the DICOM ingestion jobs that produce them; viewer bundles."""

    name = "imaging"
    verbose_name = "Imaging"

    def ready(self) -> None:
        from imaging.services import bundles_triggers

        bundles_triggers.connect()
