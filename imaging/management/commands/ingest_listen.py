"""`manage.py ingest_listen`: turn S3 ObjectCreated events from the SQS ingest queue into jobs.

The rules (which objects start a job, duplicates, unknown cases) are in
`imaging.services.s3_events`; the loop in `imaging.services.listener`.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from imaging.services.listener import IngestListener

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Long-poll the SQS ingest queue (INGEST_QUEUE_URL) and create an ingest job per uploaded series."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Poll once, handle what arrived, and exit.")
        parser.add_argument("--queue-url", default="", help="Override INGEST_QUEUE_URL.")
        parser.add_argument(
            "--wait-seconds", type=int, default=None, help="Long-poll wait (default INGEST_LISTEN_WAIT_SECONDS)."
        )
        parser.add_argument(
            "--sweep-interval",
            type=float,
            default=None,
            help="Run the stuck-job sweep this often, in seconds (default INGEST_SWEEP_INTERVAL_SECONDS; 0 = never). "
            "Production has no Celery beat: the listener is where the sweep runs.",
        )

    def handle(
        self,
        *args: Any,
        once: bool,
        queue_url: str,
        wait_seconds: int | None,
        sweep_interval: float | None,
        **options: Any,
    ) -> None:
        queue_url = queue_url or settings.INGEST_QUEUE_URL
        if not queue_url:
            raise CommandError("Set INGEST_QUEUE_URL (or pass --queue-url) to the SQS queue of the uploads bucket.")
        stop = threading.Event()

        def request_stop(signum: int, _frame: FrameType | None) -> None:
            logger.info("Signal %s received; finishing the current batch", signum)
            stop.set()

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            interval = settings.INGEST_SWEEP_INTERVAL_SECONDS if sweep_interval is None else sweep_interval
            listener = IngestListener(queue_url=queue_url, wait_seconds=wait_seconds, sweep_interval=interval)
            report = listener.run(stop=stop, once=once)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(
            f"Received {report.received} message(s): {len(report.jobs_created)} job(s) created, "
            f"{report.duplicates} duplicate(s), {report.ignored} ignored, {report.test_events} test event(s), "
            f"{report.kept} kept for redelivery, {report.sweeps} sweep(s)."
        )
