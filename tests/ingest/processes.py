"""Real processes for the end-to-end tests: a Celery worker and the S3 event listener.

They run this checkout's code against the test database, moto's S3/SQS server and Redis db 3, with
their settings from the environment exactly as in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("HPB_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")


def stack_env(
    *,
    database: dict,
    moto_endpoint: str,
    buckets: dict[str, str],
    queue_url: str,
    celery_queue: str,
    tmp: Path,
    **extra: str,
) -> dict[str, str]:
    user = database.get("USER") or "postgres"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host, port = database.get("HOST") or "127.0.0.1", database.get("PORT") or "5432"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.ingest.e2e_settings",
        "DATABASE_URL": f"postgres://{user}{password}@{host}:{port}/{database['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_SQS_QUEUE_NAME": celery_queue,
        "S3_DOCUMENTS_BUCKET": buckets["documents"],
        "S3_ASSETS_BUCKET": buckets["assets"],
        "S3_UPLOADS_BUCKET": buckets["uploads"],
        "AWS_S3_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "INGEST_QUEUE_URL": queue_url,
        "SQS_ENDPOINT_URL": moto_endpoint,
        "HPB_VAR_DIR": str(tmp / "var"),
        "STORAGE_ROOT": str(tmp / "storage"),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class CeleryWorker:
    """`celery -A config worker` (prefork, one child) in its own process group, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, name: str) -> None:
        self.env, self.log, self.name = env, log, name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> CeleryWorker:
        handle = self.log.open("ab")
        self.process = process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "info",
                "--concurrency",
                "1",
                "-n",
                f"{self.name}@%h",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                self.env["CELERY_SQS_QUEUE_NAME"],
            ],
            cwd=REPO,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the worker and its pool child share a group we can kill at once
        )
        handle.close()
        wait_for(lambda: " ready." in self.output() or process.poll() is not None, timeout, "worker start")
        if process.poll() is not None:
            raise RuntimeError(f"The worker exited at start:\n{self.tail()}")
        return self

    @property
    def alive(self) -> bool:
        return self._running() is not None

    def _running(self) -> subprocess.Popen[bytes] | None:
        """The worker's process while it runs, else None."""
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process

    def kill(self) -> None:
        """SIGKILL the worker and its pool child: no clean-up, no ack, like a node that dies."""
        process = self._running()
        if process is not None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def stop(self) -> None:
        process = self._running()
        if process is None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


def run_listener_once(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "ingest_listen", "--once", "--wait-seconds", "2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Timed out after {timeout:.0f} s waiting for {what}.")
        time.sleep(interval)
