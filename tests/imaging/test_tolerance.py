"""DICOM from the wild (issue 15): every quirk of ``tests/imaging/wild.py`` decided by a test.

An accepted case must give the exact geometry it was written with (every kept voxel where DICOM
puts it, voxel-exact in HU unless lossy) and the warnings that say what was odd; a refused case its
code. ``benchmarks/dicom_tolerance.py`` runs the same corpus against dcm2niix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imaging.conversion.dicom import Volume, choose_series, plan_series, read_volume, scan_files
from imaging.conversion.errors import IngestError
from tests.imaging.helpers import acquisition_world
from tests.imaging.wild import CASES, Expect, WildCase

LIMITS: dict[str, Any] = {"min_slices": 3, "max_tilt_fraction": 0.25, "max_volume_bytes": 2 * 1024**3}


def convert_headers(folder: Path) -> tuple[Volume, list[str]]:
    """Scan, choose, plan and read ``folder``: the volume and every warning given on the way."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    series, _ = choose_series(scan_files(files))
    plan = plan_series(series, **LIMITS)
    volume = read_volume(plan, max_volume_bytes=LIMITS["max_volume_bytes"])
    return volume, plan.warnings + volume.warnings


def assert_geometry_and_values(volume: Volume, expect: Expect) -> None:
    """Every kept voxel (all of them) sits where DICOM places it and holds its HU."""
    assert expect.hu is not None
    nk, nj, ni = expect.hu.shape
    assert volume.array.size == expect.hu.size
    inverse = np.linalg.inv(volume.layout.grid.array_affine())
    k, j, i = (a.ravel() for a in np.meshgrid(range(nk), range(nj), range(ni), indexing="ij"))
    row, col = np.asarray(expect.row, float), np.asarray(expect.col, float)
    normal = np.cross(row, col)
    dy, dx = expect.pixel_spacing
    world = (
        np.asarray(expect.origin, float)
        + np.outer(i * dx, row)
        + np.outer(j * dy, col)
        + np.outer(k * expect.step, normal)
    )
    # spot check the vectorised placement against the helper that states DICOM's rule
    ref = acquisition_world(
        expect.origin, expect.row, expect.col, expect.pixel_spacing, expect.step, nk - 1, nj - 1, ni - 1
    )
    np.testing.assert_allclose(world[-1], ref)
    index = (np.c_[world, np.ones(len(world))] @ inverse.T)[:, :3]
    np.testing.assert_allclose(index, np.rint(index), atol=1e-3)
    z, y, x = np.rint(index).astype(int).T
    values = volume.array[z, y, x]
    if expect.exact:
        np.testing.assert_array_equal(values, expect.hu[k, j, i])
    else:
        assert np.abs(values - expect.hu[k, j, i]).mean() < 25  # lossy: close, not exact


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_wild_case(case: WildCase, tmp_path: Path) -> None:
    expect = case.build(tmp_path)
    if expect.refused:
        with pytest.raises(IngestError) as err:
            convert_headers(expect.folder)
        assert err.value.code == expect.refused
        return
    volume, warnings = convert_headers(expect.folder)
    assert_geometry_and_values(volume, expect)
    for wanted in expect.warnings:
        assert any(wanted in w for w in warnings), (wanted, warnings)
    assert all(w.isprintable() for w in warnings)
