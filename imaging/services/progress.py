"""What a running job tells the database while it works: its stage and progress, and a heartbeat.

Both write through `imaging.services.lifecycle`, fenced by the run's attempt: a run that lost its job
(to a redelivery, the sweep or a curator's retry) learns it at its next report and stops.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from hpb.database import capabilities
from imaging.services import lifecycle
from imaging.services.stages import CONVERT_END, DOWNLOAD_END, STAGE_DOWNLOAD

logger = logging.getLogger(__name__)

PROGRESS_MIN_INTERVAL_SECONDS = 1.0


class JobNoLongerOwnedError(Exception):
    """Another run (a redelivery, the sweep, a curator's retry) took the job over: stop quietly."""


class ProgressReporter:
    """Writes stage and progress to the job row: at once on a new stage, else at most once a second."""

    def __init__(self, *, job_id: int, attempt: int) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.current_stage = STAGE_DOWNLOAD
        self._progress = 0.0
        self._written_at = 0.0

    def stage(self, name: str, progress: float) -> None:
        self._write(name, progress, force=True)

    def progress(self, stage: str, progress: float) -> None:
        self._write(stage, progress, force=stage != self.current_stage)

    def conversion_progress(self, stage: str, fraction: float) -> None:
        """The library's callback: its own stage names, a fraction of the conversion in [0, 1]."""
        try:
            fraction = min(max(float(fraction), 0.0), 1.0)
        except (TypeError, ValueError):
            fraction = 0.0
        self.progress(str(stage)[:32], DOWNLOAD_END + (CONVERT_END - DOWNLOAD_END) * fraction)

    def _write(self, stage: str, progress: float, *, force: bool) -> None:
        progress = min(max(progress, self._progress), 1.0)  # never moves backwards
        now = time.monotonic()
        if not force and now - self._written_at < PROGRESS_MIN_INTERVAL_SECONDS:
            return
        if not lifecycle.report_progress(job_id=self.job_id, attempt=self.attempt, stage=stage, progress=progress):
            raise JobNoLongerOwnedError
        self.current_stage, self._progress, self._written_at = stage, progress, now


class Heartbeat:
    """Touches `heartbeat_at` every INGEST_HEARTBEAT_SECONDS from a thread while a job runs, so a
    long silent stage (one big mesh) is not mistaken for a dead worker by the sweep."""

    def __init__(self, *, job_id: int, attempt: int) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # A database with one writer at a time (SQLite, the embedded demo) would make the run wait
        # for its own heartbeat; it has no sweep running anyway.
        if not capabilities().concurrent_writers or settings.INGEST_HEARTBEAT_SECONDS <= 0:
            return
        self._thread = threading.Thread(target=self._run, name=f"ingest-heartbeat-{self.job_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self._stop.wait(settings.INGEST_HEARTBEAT_SECONDS):
                try:
                    lifecycle.heartbeat(job_id=self.job_id, attempt=self.attempt)
                except Exception:
                    logger.warning("Heartbeat of ingest job %s could not be written", self.job_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()
