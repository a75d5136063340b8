"""Helpers shared by the conversion-library tests (paths of pydicom's real files, known geometry)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkIOXML import vtkXMLImageDataReader

PYDICOM_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DICOMDIR_TESTS = PYDICOM_TEST_FILES / "dicomdirtests"


def unique_hu(shape: Sequence[int], start: int = -1000) -> np.ndarray:
    """A volume whose every voxel has its own HU value: start, start + 1, ... in C order."""
    return (np.arange(int(np.prod(shape)), dtype=np.float32) + start).reshape(shape)


def acquisition_world(
    origin: Sequence[float],
    row: Sequence[float],
    col: Sequence[float],
    pixel_spacing: Sequence[float],
    step: float,
    k: int,
    j: int,
    i: int,
) -> np.ndarray:
    """DICOM's own placement of pixel (column i, row j) of slice k of a regular stack."""
    row_v, col_v = np.asarray(row, float), np.asarray(col, float)
    normal = np.cross(row_v, col_v)
    return np.asarray(origin, float) + i * pixel_spacing[1] * row_v + j * pixel_spacing[0] * col_v + k * step * normal


def read_vti(path: Path) -> tuple[vtkImageData, np.ndarray]:
    """Read a .vti back with VTK's own reader: the image and its scalars as a (z, y, x) array."""
    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    nx, ny, nz = image.GetDimensions()
    values = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(nz, ny, nx)
    return image, values
