"""Fixtures of the ingestion tests: real DICOM (the library's phantom, pydicom's files) and storages."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from imaging.phantom import PhantomFiles, write_phantom
from tests.factories import CaseFactory


@pytest.fixture(scope="session")
def phantom(tmp_path_factory) -> PhantomFiles:
    """The small synthetic abdominal CT (real DICOM files) with its DICOM SEG, written once."""
    return write_phantom(tmp_path_factory.mktemp("phantom"), size="small", seed=7)


@pytest.fixture(scope="session")
def phantom_nifti(tmp_path_factory) -> PhantomFiles:
    """The same phantom with its segmentation as a NIfTI label map."""
    return write_phantom(tmp_path_factory.mktemp("phantom-nifti"), size="small", seed=7, segmentation_format="nifti")


@pytest.fixture(scope="session")
def phantom_zip(phantom: PhantomFiles, tmp_path_factory) -> Path:
    """The phantom's CT series as one zip, the way a curator or gateway sends it."""
    path = tmp_path_factory.mktemp("phantom-zip") / "Series 1+contrast.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(phantom.series_dir.iterdir()):
            archive.write(file, f"ct/{file.name}")
    return path


@pytest.fixture
def case(db):
    return CaseFactory()


@pytest.fixture
def assets_root(settings) -> Path:
    return Path(settings.STORAGES["assets"]["OPTIONS"]["location"])


@pytest.fixture
def uploads_root(settings) -> Path:
    return Path(settings.STORAGES["uploads"]["OPTIONS"]["location"])


@pytest.fixture
def fresh_storage_root(settings, tmp_path) -> Path:
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
