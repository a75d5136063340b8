"""Fixtures of the ingestion tests: real DICOM (the library's phantom, pydicom's files) and storages."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cases.models import Case
from imaging.conversion.phantom import PhantomFiles, write_phantom
from tests.factories import CaseFactory

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings


@pytest.fixture(scope="session")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    """The small synthetic abdominal CT (real DICOM files) with its DICOM SEG, written once."""
    return write_phantom(tmp_path_factory.mktemp("phantom"), size="small", seed=7)


@pytest.fixture(scope="session")
def phantom_nifti(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    """The same phantom with its segmentation as a NIfTI label map."""
    return write_phantom(tmp_path_factory.mktemp("phantom-nifti"), size="small", seed=7, segmentation_format="nifti")


@pytest.fixture(scope="session")
def phantom_zip(phantom: PhantomFiles, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The phantom's CT series as one zip, the way a curator or gateway sends it."""
    path = tmp_path_factory.mktemp("phantom-zip") / "Series 1+contrast.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(phantom.series_dir.iterdir()):
            archive.write(file, f"ct/{file.name}")
    return path


@pytest.fixture
def case(db: None) -> Case:
    return CaseFactory.create()


@pytest.fixture(autouse=True)
def fresh_storage_root(settings: Settings, tmp_path: Path) -> Path:
    """Filesystem storages in a folder of their own, so listing them shows only this test's files."""
    from hpb.settings_helpers import build_storages

    storages = build_storages(
        buckets={}, root=tmp_path / "storage", region="us-east-1", endpoint_url=None, expiry_seconds=900
    )
    storages["staticfiles"] = settings.STORAGES["staticfiles"]
    settings.STORAGES = storages
    return tmp_path / "storage"


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def pydicom_test_file(name: str) -> Path:
    """One of pydicom's own real DICOM test files."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    assert isinstance(path, str), f"pydicom has no test file {name}"
    return Path(path)


def stored_keys(alias: str) -> list[str]:
    """Every key of a storage (filesystem or S3), sorted: what a test may compare before and after."""
    from imaging.services import storage_io

    return [f.key for f in storage_io.list_files(alias, "")]


@pytest.fixture(scope="session")
def large_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 512x512x120 CT series of noise: big enough that a conversion takes a noticeable while."""
    import numpy as np

    from imaging.conversion.phantom import write_ct_series

    folder = tmp_path_factory.mktemp("large") / "ct"
    hu = np.random.default_rng(3).normal(40.0, 300.0, size=(120, 512, 512)).astype(np.float32)
    write_ct_series(folder, hu, origin=(-200.0, -200.0, -100.0), pixel_spacing=(0.78, 0.78), slice_step=1.5)
    return folder


@pytest.fixture
def ingest_queue(
    s3_storages: dict[str, str], s3_client: Any, sqs_client: Any, settings: Settings, moto_server: str
) -> str:
    """An SQS queue receiving the uploads bucket's ObjectCreated events, as Terraform configures it."""
    url = sqs_client.create_queue(QueueName=f"ingest-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3_client.put_bucket_notification_configuration(
        Bucket=s3_storages["uploads"],
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    settings.INGEST_QUEUE_URL = url
    settings.SQS_ENDPOINT_URL = moto_server
    return url
