"""`manage.py ingest_dicom PATH [PATH ...] --case SLUG`: ingest local DICOM in this process.

The files go through the uploads storage like any upload (so they are kept and the job can be
retried from the admin), then the job runs here, without a worker. Exit status 0 when the job
succeeded, 1 with the job's error on stderr when it failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import Case
from imaging.services import lifecycle
from imaging.services.jobs import ingest_local_paths, parse_labels
from imaging.services.reporting import job_report
from imaging.services.runner import run_job
from imaging.services.transient import is_transient


class Command(BaseCommand):
    help = "Ingest local DICOM files, folders or zips into a case (runs the conversion in this process)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="DICOM files, folders or zip archives.")
        parser.add_argument("--case", required=True, help="Slug of the case.")
        parser.add_argument("--patient", default="", help="MRN of the case's patient, when the slug is ambiguous.")
        parser.add_argument("--segmentation", type=Path, default=None, help="A DICOM SEG or NIfTI label map.")
        parser.add_argument(
            "--labels", default="", help='Label names as JSON ({"1": "liver"}) or the path of a JSON file.'
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print the job, its studies and structures as JSON."
        )

    def handle(
        self,
        *args: Any,
        paths: list[Path],
        case: str,
        patient: str,
        segmentation: Path | None,
        labels: str,
        as_json: bool,
        **options: Any,
    ) -> None:
        target = self._case(slug=case, mrn=patient)
        label_map = self._labels(labels)
        try:
            job = ingest_local_paths(
                case=target, paths=paths, segmentation=segmentation, labels=label_map, enqueue=False
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            run_job(job_id=job.pk)
        except Exception as exc:
            if not is_transient(exc):
                raise
            lifecycle.fail(
                job_id=job.pk,
                code="transient",
                message=f"The storage or the database failed ({type(exc).__name__}); the upload is kept, "
                "retry the job from the admin.",
            )
        job.refresh_from_db()
        report = job_report(job)
        if as_json:
            self.stdout.write(_dumps(report))
        elif job.status == job.Status.SUCCEEDED:
            self.stdout.write(
                f"Job {job.pk} succeeded: study {', '.join(str(s['id']) for s in report['studies'])} with "
                f"{len(report['structures'])} structure(s)."
            )
        if job.status != job.Status.SUCCEEDED:
            self.stderr.write(f"Job {job.pk} failed ({job.error_code}): {job.error}")
            raise SystemExit(1)

    def _case(self, *, slug: str, mrn: str) -> Case:
        cases = Case.objects.filter(slug=slug)
        if mrn:
            cases = cases.filter(patient__mrn=mrn)
        found = list(cases[:2])
        if not found:
            raise CommandError(f"No case with the slug {slug!r}" + (" for that patient." if mrn else "."))
        if len(found) > 1:
            raise CommandError(f"Several cases have the slug {slug!r}; add --patient MRN to choose one.")
        return found[0]

    def _labels(self, value: str) -> dict[str, str]:
        if not value:
            return {}
        text = value
        if not value.lstrip().startswith("{"):
            path = Path(value)
            if not path.is_file():
                raise CommandError("--labels is neither a JSON object nor a JSON file.")
            text = path.read_text()
        try:
            return parse_labels(json.loads(text))
        except ValueError as exc:
            raise CommandError(f"--labels: {exc}") from None


def _dumps(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str)
