"""Shared fixtures of the conversion-library tests: no database, no Django settings, no network.

Real DICOM comes from the files pydicom ships in its wheel (``pydicom/data/test_files``); synthetic
series are written with ``imaging.conversion.phantom`` helpers with a geometry the tests know exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imaging.conversion.phantom import PhantomFiles, write_phantom
from tests.imaging.helpers import PYDICOM_TEST_FILES


@pytest.fixture(scope="session")
def pydicom_files() -> Path:
    assert (PYDICOM_TEST_FILES / "CT_small.dcm").is_file(), "pydicom's bundled test files are missing"
    return PYDICOM_TEST_FILES


@pytest.fixture(scope="session")
def small_phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    return write_phantom(tmp_path_factory.mktemp("phantom-seg"), size="small", seed=0)


@pytest.fixture(scope="session")
def small_phantom_nifti(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    return write_phantom(tmp_path_factory.mktemp("phantom-nifti"), size="small", seed=0, segmentation_format="nifti")
