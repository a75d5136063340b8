"""Research notes left on a case by signed-in users."""

from django.conf import settings
from django.db import models

from hpb.validators import validate_json_object


class Annotation(models.Model):
    """A note: free text plus free-form JSON metadata (a structure id, a 3D point, a camera)."""

    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="annotations")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations")
    body = models.TextField(max_length=10_000)
    metadata = models.JSONField(default=dict, blank=True, validators=[validate_json_object])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["case", "-created_at"], name="annotation_case_created")]

    def __str__(self) -> str:
        return f"Note {self.pk} on case {self.case_id}"
