"""Shared fixtures of the conversion-library tests: no database, no Django settings, no network.

Real DICOM comes from the files pydicom ships in its wheel (``pydicom/data/test_files``); synthetic
series are written with ``imaging.phantom`` helpers with a geometry the tests know exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkIOXML import vtkXMLImageDataReader

from imaging.phantom import PhantomFiles, write_phantom

PYDICOM_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DICOMDIR_TESTS = PYDICOM_TEST_FILES / "dicomdirtests"


@pytest.fixture(scope="session")
def pydicom_files() -> Path:
    assert (PYDICOM_TEST_FILES / "CT_small.dcm").is_file(), "pydicom's bundled test files are missing"
    return PYDICOM_TEST_FILES


@pytest.fixture(scope="session")
def small_phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    return write_phantom(tmp_path_factory.mktemp("phantom-seg"), size="small", seed=0)


@pytest.fixture(scope="session")
def small_phantom_nifti(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    return write_phantom(tmp_path_factory.mktemp("phantom-nifti"), size="small", seed=0,
                         segmentation_format="nifti")


def unique_hu(shape: Sequence[int], start: int = -1000) -> np.ndarray:
    """A volume whose every voxel has its own HU value: start, start + 1, ... in C order."""
    return (np.arange(int(np.prod(shape)), dtype=np.float32) + start).reshape(shape)


def acquisition_world(origin: Sequence[float], row: Sequence[float], col: Sequence[float],
                      pixel_spacing: Sequence[float], step: float, k: int, j: int, i: int) -> np.ndarray:
    """DICOM's own placement of pixel (column i, row j) of slice k of a regular stack."""
    row_v, col_v = np.asarray(row, float), np.asarray(col, float)
    normal = np.cross(row_v, col_v)
    return (np.asarray(origin, float) + i * pixel_spacing[1] * row_v + j * pixel_spacing[0] * col_v
            + k * step * normal)


def read_vti(path: Path) -> tuple[vtkImageData, np.ndarray]:
    """Read a .vti back with VTK's own reader: the image and its scalars as a (z, y, x) array."""
    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    nx, ny, nz = image.GetDimensions()
    values = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(nz, ny, nx)
    return image, values
