from django.db import migrations, models
from django.db.models import Count


def refuse_duplicate_series(apps, schema_editor) -> None:
    """Name the duplicates instead of letting the constraint fail with a bare IntegrityError."""
    ImagingStudy = apps.get_model("imaging", "ImagingStudy")
    duplicates = (
        ImagingStudy.objects.using(schema_editor.connection.alias)
        .exclude(series_instance_uid="")
        .values("case_id", "series_instance_uid")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    found = [f"case {d['case_id']} ({d['n']} studies)" for d in duplicates[:20]]
    if found:
        raise RuntimeError(
            "These cases have more than one imaging study of the same DICOM series: "
            + ", ".join(found)
            + ". Delete the extra studies in the admin (Imaging studies, search by series UID), then migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_case_list_counts"),
        ("imaging", "0002_ingest_job_runtime"),
    ]

    operations = [
        migrations.RunPython(refuse_duplicate_series, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="imagingstudy",
            constraint=models.UniqueConstraint(
                condition=models.Q(("series_instance_uid", ""), _negated=True),
                fields=("case", "series_instance_uid"),
                name="study_series_unique_per_case",
                violation_error_message="This case already has a study of this DICOM series.",
            ),
        ),
    ]
