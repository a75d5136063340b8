from django.apps import AppConfig


class ImagingConfig(AppConfig):
    """Imaging studies, segmented structures and the DICOM ingestion jobs that produce them."""

    name = "imaging"
    verbose_name = "Imaging"
