"""Side by side with dcm2niix: DICOM from the wild, and hostile input.

Usage::

    python benchmarks/dicom_tolerance.py              # the tolerance corpus, against dcm2niix
    python benchmarks/dicom_tolerance.py --hostile    # the hostile corpus: our code and time per case
    python benchmarks/dicom_tolerance.py --case rle --keep var/tolerance

The tolerance corpus is ``tests/imaging/wild.py`` (real pixel data from pydicom's ``CT_small.dcm``,
one quirk of real exports per case) plus two of pydicom's real series (``dicomdirtests`` CT5N as it
is, and stripped of its UIDs). Each case goes through ``imaging.conversion.convert`` and through
dcm2niix (PyPI package ``dcm2niix``, requirements/bench.txt; its binary runs offline). Printed per
case: what each accepted or refused, whether our volume's geometry agrees with dcm2niix's NIfTI (the
eight corner voxels' world positions, NIfTI's RAS flipped to DICOM's LPS, compared as sets: the
largest distance from one of ours to the nearest of theirs), whether the HU agree at every voxel of
theirs, and the times with their ratio (ours / dcm2niix's, both measured in this run).

The verdict per case: ``same`` (both accept, corners within 0.01 mm), ``DIFFERENT`` (both accept,
geometry differs: the failure this benchmark exists to catch), ``refused`` (we refuse what dcm2niix
converts: each such case is justified in docs/dicom-tolerance.md), ``both refuse``, ``they refuse``.
The exit status is 1 when any case is DIFFERENT.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imaging.conversion import IngestError, Limits, convert  # noqa: E402
from imaging.conversion.geometry import ImageGrid  # noqa: E402
from tests.imaging import hostile, wild  # noqa: E402
from tests.imaging.helpers import DICOMDIR_TESTS, read_vti  # noqa: E402

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
_CORNER_TOL_MM = 0.01


@dataclass
class Outcome:
    accepted: bool
    seconds: float
    detail: str  # the refusal code, or the dimensions
    corners: np.ndarray | None = None  # (8, 3) LPS
    affine: np.ndarray | None = None  # voxel index (i, j, k) -> LPS
    values: np.ndarray | None = None  # indexed like ``affine``: [i, j, k]


def dcm2niix_binary() -> str:
    found = shutil.which("dcm2niix", path=str(Path(sys.executable).parent)) or shutil.which("dcm2niix")
    if found is None:
        raise SystemExit("dcm2niix is not installed: pip install -r requirements/bench.txt")
    return found


def _corners(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    ni, nj, nk = shape[:3]
    index = np.array([[i, j, k, 1.0] for k in (0, nk - 1) for j in (0, nj - 1) for i in (0, ni - 1)])
    return (index @ affine.T)[:, :3]


def run_ours(folder: Path, work: Path) -> Outcome:
    started = time.perf_counter()
    try:
        result = convert(inputs=[folder], work_dir=work, limits=Limits())
    except IngestError as exc:
        return Outcome(False, time.perf_counter() - started, exc.code)
    seconds = time.perf_counter() - started
    meta = result.metadata
    grid = ImageGrid(
        dimensions=tuple(meta["dimensions"]),
        spacing=tuple(meta["spacing"]),
        origin=tuple(meta["origin"]),
        direction=tuple(meta["direction"]),
    )
    _, values = read_vti(result.volume_path)  # (z, y, x)
    dims = "x".join(str(d) for d in meta["dimensions"])
    return Outcome(True, seconds, dims, grid.corner_points(), grid.index_affine(), values.transpose(2, 1, 0))


def run_dcm2niix(folder: Path, out: Path, binary: str) -> Outcome:
    import nibabel as nib
    from nibabel.spatialimages import SpatialImage

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        subprocess.run(
            [binary, "-z", "n", "-b", "n", "-f", "%s_%z", "-o", str(out), str(folder)],
            capture_output=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(False, time.perf_counter() - started, "timeout (120 s)")
    seconds = time.perf_counter() - started
    loaded = [nib.load(p) for p in sorted(out.glob("*.nii"))]
    volumes = [v for v in loaded if isinstance(v, SpatialImage) and len(v.shape) >= 3 and v.shape[2] > 1]
    if not volumes:
        return Outcome(False, seconds, "no volume")
    img = max(volumes, key=lambda v: int(np.prod(v.shape[:3])))
    affine = _RAS_TO_LPS @ np.asarray(img.affine, dtype=np.float64)
    try:
        values: np.ndarray | None = np.asarray(img.get_fdata(dtype=np.float32))
    except (TypeError, ValueError):  # colour (RGB) volumes have no scalar HU
        values = None
    while values is not None and values.ndim > 3:
        values = values[..., 0]
    dims = "x".join(str(d) for d in img.shape[:3]) + (f" (+{len(volumes) - 1} more)" if len(volumes) > 1 else "")
    return Outcome(True, seconds, dims, _corners(affine, img.shape), affine, values)


def corner_distance(ours: np.ndarray, theirs: np.ndarray) -> float:
    """The largest distance from one of our corners to the nearest of theirs (mm)."""
    d = np.linalg.norm(ours[:, None, :] - theirs[None, :, :], axis=2)
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def value_difference(ours: Outcome, theirs: Outcome) -> float:
    """The largest |HU difference| over every voxel of theirs, looked up in ours at the same place."""
    assert ours.affine is not None and theirs.affine is not None and ours.values is not None
    if theirs.values is None:
        return float("nan")
    ni, nj, nk = theirs.values.shape
    grid = np.stack(np.meshgrid(np.arange(ni), np.arange(nj), np.arange(nk), indexing="ij"), axis=-1).reshape(-1, 3)
    world = np.c_[grid, np.ones(len(grid))] @ theirs.affine.T
    index = np.rint(world @ np.linalg.inv(ours.affine).T)[:, :3].astype(int)
    inside = np.all((index >= 0) & (index < np.asarray(ours.values.shape)), axis=1)
    if not inside.all():
        return float("inf")
    mine = ours.values[index[:, 0], index[:, 1], index[:, 2]]
    return float(np.abs(mine - theirs.values.reshape(-1)[np.ravel_multi_index(grid.T, theirs.values.shape)]).max())


def verdict(ours: Outcome, theirs: Outcome) -> tuple[str, str]:
    if ours.accepted and theirs.accepted:
        assert ours.corners is not None and theirs.corners is not None
        distance = corner_distance(ours.corners, theirs.corners)
        values = value_difference(ours, theirs)
        kind = "same" if distance <= _CORNER_TOL_MM else "DIFFERENT"
        return kind, f"corners {distance:.4f} mm, max |dHU| {values:g}"
    if ours.accepted:
        return "they refuse", ""
    if theirs.accepted:
        return "refused", "see docs/dicom-tolerance.md"
    return "both refuse", ""


def _pydicom_series(tmp: Path, strip: bool) -> wild.Expect:
    import pydicom

    folder = tmp / "ct"
    shutil.copytree(DICOMDIR_TESTS / "98892001" / "CT5N", folder)
    if strip:
        for path in folder.iterdir():
            ds = pydicom.dcmread(path)
            for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID"):
                delattr(ds, keyword)
            ds.save_as(path)
    return wild.Expect(folder)


def tolerance_cases() -> list[wild.WildCase]:
    real = [
        wild.WildCase("pydicom_CT5N", lambda tmp: _pydicom_series(tmp, strip=False)),
        wild.WildCase("pydicom_CT5N_without_uids", lambda tmp: _pydicom_series(tmp, strip=True)),
    ]
    return [*real, *wild.CASES]


def run_tolerance(names: list[str] | None, keep: Path | None) -> int:
    binary = dcm2niix_binary()
    cases = [c for c in tolerance_cases() if not names or c.name in names]
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="tolerance-"))
    print(f"{'case':40} {'ours':>16} {'dcm2niix':>22} {'verdict':>12}  {'ours s':>7} {'d2n s':>7} {'ratio':>6}  detail")
    different = 0
    try:
        for case in cases:
            tmp = root / case.name
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            expect = case.build(tmp)
            theirs = run_dcm2niix(expect.folder, tmp / "dcm2niix", binary)
            ours = run_ours(expect.folder, tmp / "ours")
            kind, detail = verdict(ours, theirs)
            different += kind == "DIFFERENT"
            ratio = ours.seconds / theirs.seconds if theirs.seconds else float("nan")
            print(
                f"{case.name:40} {ours.detail:>16} {theirs.detail:>22} {kind:>12}  {ours.seconds:7.3f} "
                f"{theirs.seconds:7.3f} {ratio:6.2f}  {detail}"
            )
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{len(cases)} cases, {different} with a different geometry (target: 0).")
    return 1 if different else 0


def run_hostile(names: list[str] | None, with_dcm2niix: bool) -> int:
    binary = dcm2niix_binary() if with_dcm2niix else ""
    cases = [c for c in hostile.CASES if not names or c.name in names]
    worst = 0.0
    wrong = 0
    print(f"{'case':32} {'expected':>32} {'got':>32} {'seconds':>8}" + ("  dcm2niix" if with_dcm2niix else ""))
    with tempfile.TemporaryDirectory(prefix="hostile-") as root:
        for case in cases:
            tmp = Path(root, case.name)
            (tmp / "upload").mkdir(parents=True)
            upload = case.build(tmp / "upload")
            started = time.perf_counter()
            try:
                convert(
                    inputs=upload.inputs,
                    work_dir=tmp / "work",
                    segmentation=upload.segmentation,
                    limits=replace(Limits(), **upload.limits),
                )
                got = "(accepted)"
            except IngestError as exc:
                got = exc.code
            seconds = time.perf_counter() - started
            worst = max(worst, seconds)
            wrong += got != case.code
            extra = ""
            if with_dcm2niix and upload.inputs[0].is_dir():
                theirs = run_dcm2niix(upload.inputs[0], tmp / "d2n", binary)
                extra = f"  {theirs.detail} in {theirs.seconds:.3f} s"
            print(f"{case.name:32} {case.code:>32} {got:>32} {seconds:8.3f}{extra}")
    print(f"\n{len(cases)} cases, {wrong} with another outcome than expected, slowest {worst:.3f} s (target < 2 s).")
    return 1 if wrong else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hostile", action="store_true", help="time the hostile corpus instead")
    parser.add_argument("--with-dcm2niix", action="store_true", help="with --hostile: run dcm2niix on each too")
    parser.add_argument("--case", action="append", help="only this case (repeatable)")
    parser.add_argument("--keep", type=Path, help="keep the corpus and both outputs in this folder")
    args = parser.parse_args()
    if args.hostile:
        return run_hostile(args.case, args.with_dcm2niix)
    return run_tolerance(args.case, args.keep)


if __name__ == "__main__":
    sys.exit(main())
