"""`manage.py ingest_sweep`: requeue or fail stuck ingest jobs now (Celery beat runs it periodically)."""

from typing import Any

from django.core.management.base import BaseCommand

from imaging.services.sweep import sweep_stuck_jobs


class Command(BaseCommand):
    help = "Requeue ingest jobs whose worker went silent (or fail them after INGEST_MAX_ATTEMPTS)."

    def handle(self, *args: Any, **options: Any) -> None:
        report = sweep_stuck_jobs()
        self.stdout.write(str(report))
