"""Every state of an ingest job becomes a real `status` value.

Two states used to exist only as a (status, stage) pair: `queued` + stage `awaiting_upload` (the job
owns its upload prefix, its files are still arriving) and `queued` + stage `retrying` (a transient
error; the task retries after a backoff). They become the statuses `awaiting_upload` and `retrying`,
and their stage is cleared: stages now only describe how far a run got. Reversing the migration puts
the pairs back. The API keeps showing the old pair (`imaging.services.lifecycle.public_status`).
"""

from django.db import migrations, models

# (status, stage) before -> status after
PAIRS = {("queued", "awaiting_upload"): "awaiting_upload", ("queued", "retrying"): "retrying"}

NEW_STATUSES = ["awaiting_upload", "queued", "running", "retrying", "succeeded", "failed"]


def pairs_to_states(apps, schema_editor) -> None:
    IngestJob = apps.get_model("imaging", "IngestJob")
    jobs = IngestJob.objects.using(schema_editor.connection.alias)
    for (status, stage), state in PAIRS.items():
        jobs.filter(status=status, stage=stage).update(status=state, stage="")


def states_to_pairs(apps, schema_editor) -> None:
    IngestJob = apps.get_model("imaging", "IngestJob")
    jobs = IngestJob.objects.using(schema_editor.connection.alias)
    for (status, stage), state in PAIRS.items():
        jobs.filter(status=state).update(status=status, stage=stage)


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0003_study_series_unique_per_case"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="ingestjob",
            name="ingest_job_status_valid",
        ),
        migrations.AlterField(
            model_name="ingestjob",
            name="status",
            field=models.CharField(
                choices=[
                    ("awaiting_upload", "Awaiting upload"),
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("retrying", "Retrying"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                ],
                default="queued",
                max_length=16,
            ),
        ),
        # Between the two constraints, so neither the old nor the new one sees a row it would refuse.
        migrations.RunPython(pairs_to_states, states_to_pairs),
        migrations.AddConstraint(
            model_name="ingestjob",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", NEW_STATUSES)),
                name="ingest_job_status_valid",
            ),
        ),
    ]
