"""Shared fixtures: users, API clients, and moto's standalone S3/SQS server over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tests.factories import StaffUserFactory, SuperUserFactory, UserFactory

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MOTO_ACCESS_KEY = "testing"
MOTO_SECRET_KEY = "testing"  # noqa: S105 - moto accepts any credentials


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start moto's standalone server in a child process and yield its endpoint URL.

    It speaks S3 and SQS over HTTP like AWS does (and delivers S3 -> SQS events), so storage and
    queue code runs its real boto3 calls. It does not check presigned signatures or expiry.
    """
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": MOTO_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": MOTO_SECRET_KEY}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto's server did not start") from None
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Every test starts with an empty cache, so throttle counts never leak from one test to the next."""
    from django.core.cache import caches

    for cache in caches.all():
        cache.clear()


@pytest.fixture(scope="session", autouse=True)
def _aws_test_credentials() -> None:
    """Fake credentials for every boto3 client in the tests; nothing may reach real AWS."""
    os.environ["AWS_ACCESS_KEY_ID"] = MOTO_ACCESS_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = MOTO_SECRET_KEY
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def s3_client(moto_server: str) -> Any:  # boto3 clients are untyped
    return boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")


@pytest.fixture
def sqs_client(moto_server: str) -> Any:
    return boto3.client("sqs", endpoint_url=moto_server, region_name="us-east-1")


@pytest.fixture
def s3_storages(settings: Settings, moto_server: str, s3_client: Any) -> dict[str, str]:
    """Point the documents, assets and uploads storages at fresh buckets on moto's server."""
    from hpb.settings_helpers import build_storages

    suffix = uuid.uuid4().hex[:8]
    buckets = {alias: f"hpb-{alias}-{suffix}" for alias in ("documents", "assets", "uploads")}
    for bucket in buckets.values():
        s3_client.create_bucket(Bucket=bucket)
    storages = build_storages(
        buckets=buckets,
        root=settings.STORAGE_ROOT,
        region="us-east-1",
        endpoint_url=moto_server,
        expiry_seconds=settings.STORAGE_URL_EXPIRY_SECONDS,
    )
    storages["staticfiles"] = settings.STORAGES["staticfiles"]
    settings.STORAGES = storages
    settings.AWS_S3_ENDPOINT_URL = moto_server
    settings.S3_BUCKETS = buckets
    return buckets


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return StaffUserFactory()


@pytest.fixture
def superuser(db):
    return SuperUserFactory()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user_client(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def staff_client(staff_user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


@pytest.fixture
def local_storage(settings: Settings, tmp_path: Path) -> Path:
    """Filesystem storages under a fresh temporary folder (so file listings see only this test's files)."""
    from hpb.settings_helpers import build_storages

    root = tmp_path / "storage"
    storages = build_storages(
        buckets={},
        root=root,
        region="us-east-1",
        endpoint_url=None,
        expiry_seconds=settings.STORAGE_URL_EXPIRY_SECONDS,
    )
    storages["staticfiles"] = settings.STORAGES["staticfiles"]
    settings.STORAGES = storages
    settings.STORAGE_ROOT = root
    return root
