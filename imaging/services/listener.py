"""The SQS long-poll loop of `manage.py ingest_listen`.

A message is deleted only after every job it calls for is committed; if anything goes wrong before
that, the message stays and SQS delivers it again after its visibility timeout (jobs are created
once per (bucket, key, ETag), so the second delivery finds them). Malformed messages, which can
never succeed, are logged and deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
from django.conf import settings
from django.db import close_old_connections, connection

from imaging.services.s3_events import MalformedMessageError, handle_object_created, parse_message
from imaging.services.sweep import sweep_stuck_jobs

logger = logging.getLogger(__name__)


@dataclass
class PollReport:
    received: int = 0
    deleted: int = 0
    kept: int = 0
    jobs_created: list[int] = field(default_factory=list)
    duplicates: int = 0
    ignored: int = 0
    test_events: int = 0
    sweeps: int = 0


def sqs_client() -> Any:
    """A boto3 SQS client (boto3's clients are generated at run time: untyped)."""
    return boto3.client("sqs", endpoint_url=settings.SQS_ENDPOINT_URL, region_name=settings.AWS_REGION)


class IngestListener:
    def __init__(
        self,
        *,
        queue_url: str,
        client: Any = None,
        wait_seconds: int | None = None,
        max_messages: int = 10,
        sweep_interval: float | None = None,
    ):
        """`sweep_interval` (seconds; None or 0 = never) runs the stuck-job sweep between polls.

        Production runs no Celery beat (Terraform deploys web, worker and listener only), and the
        listener is the one long-lived singleton, so it is where the periodic sweep lives there.
        """
        if not queue_url:
            raise ValueError("No ingest queue: set INGEST_QUEUE_URL.")
        self.queue_url = queue_url
        self.client = client or sqs_client()
        self.wait_seconds = settings.INGEST_LISTEN_WAIT_SECONDS if wait_seconds is None else wait_seconds
        self.max_messages = max_messages
        self.sweep_interval = sweep_interval or None
        self._next_sweep = 0.0  # the first sweep runs at start-up

    def run(self, *, stop: threading.Event, once: bool = False) -> PollReport:
        """Poll until `stop` is set (SIGTERM), finishing the batch in hand; or one poll with `once`."""
        total = PollReport()
        while not stop.is_set():
            self.sweep_if_due(total)
            report = self.poll_once()
            for name, value in report.__dict__.items():
                setattr(total, name, getattr(total, name) + value)
            if once:
                break
        return total

    def sweep_if_due(self, report: PollReport) -> None:
        """Run the sweep when its interval has passed; a failing sweep is logged, never fatal."""
        if self.sweep_interval is None or time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + self.sweep_interval
        _refresh_connections()
        try:
            outcome = sweep_stuck_jobs()
        except Exception:
            logger.exception("The stuck-job sweep failed; it will run again in %.0f s", self.sweep_interval)
            return
        finally:
            _refresh_connections()
        report.sweeps += 1
        logger.info("Stuck-job sweep: %s", outcome)

    def poll_once(self) -> PollReport:
        report = PollReport()
        response = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.max_messages,
            WaitTimeSeconds=self.wait_seconds,
        )
        messages = response.get("Messages", [])
        report.received = len(messages)
        _refresh_connections()
        try:
            for message in messages:
                if self._handle(message, report):
                    self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    report.deleted += 1
                else:
                    report.kept += 1
        finally:
            _refresh_connections()
        return report

    def _handle(self, message: dict[str, Any], report: PollReport) -> bool:
        """True when the message is fully handled and may be deleted."""
        message_id = message.get("MessageId", "?")
        try:
            parsed = parse_message(message.get("Body", ""))
        except MalformedMessageError as exc:
            logger.warning("Dropping SQS message %s: %s", message_id, exc)
            return True
        if parsed.test_event:
            report.test_events += 1
            return True
        try:
            for event in parsed.created:
                outcome = handle_object_created(event)
                if outcome.action == "created" and outcome.job_id is not None:
                    report.jobs_created.append(outcome.job_id)
                elif outcome.action == "duplicate":
                    report.duplicates += 1
                else:
                    report.ignored += 1
        except Exception:
            # Kept for redelivery (and, after maxReceiveCount, the dead-letter queue).
            logger.exception("SQS message %s could not be handled; it will be delivered again", message_id)
            return False
        return True


def _refresh_connections() -> None:
    """Drop database connections that died or outlived CONN_MAX_AGE between long polls (the listener
    lives for days), as Django does around each request; never inside a transaction."""
    if not connection.in_atomic_block:
        close_old_connections()
