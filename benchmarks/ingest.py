"""Benchmark of the DICOM -> VTK ingest on the synthetic abdominal CT phantom.

Usage::

    python benchmarks/ingest.py [--size full|small] [--keep DIR] [--repeat N] [--seed S]

What it does, in order:

1. Writes the phantom (``full``: 512 x 512 x 300 CT, 0.78 x 0.78 x 1 mm, plus a six-label DICOM SEG)
   with ``imaging.conversion.phantom.write_phantom``. Not timed. With ``--keep DIR`` the phantom and the last
   run's outputs stay in DIR (and an existing phantom there is reused); otherwise a temporary folder.
2. Reads every file of the series once, to warm the page cache: the floor and the pipeline then run
   with the same (warm) cache state.
3. The floor: ``pydicom.dcmread(f).pixel_array`` for every file, stored into one preallocated
   array, in this process. Run ``--repeat`` times; the median is used.
4. The pipeline: ``imaging.conversion.pipeline.convert`` on the same files and the SEG, each repetition in a
   fresh child process (``python -c``), so every run starts from the same state and its memory can
   be measured alone. The median total (wall clock inside ``convert``) is used; the stage times
   printed are those of the median run.

How peak memory is measured, exactly: in the child process, after importing everything the pipeline
uses (numpy, pydicom, highdicom, vtk modules, isal, fast_simplification, Pillow), the kernel's
peak-RSS counter is reset (``echo 5 > /proc/self/clear_refs``, Linux >= 4.0) and the current RSS is
recorded as the baseline (``VmRSS`` in ``/proc/self/status``). After ``convert`` returns, the peak is
read from ``VmHWM``. Reported: ``peak - baseline`` (the memory the conversion itself needed: numpy
arrays, VTK objects, decoder buffers, thread stacks, allocator slack of every thread), and its ratio
to the volume's size in bytes (voxels x bytes per voxel of the stored HU array). RSS counts resident
pages only, and the machine has no swap, so nothing is hidden there; pages of the page cache (the
files read) are not part of RSS.

Targets on the 2-core machine: total <= 10 x floor, peak memory <= 4 x volume size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_CHILD = r"""
import json, sys, time
from pathlib import Path

def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key + ':'):
            return int(line.split()[1]) * 1024
    raise KeyError(key)

import numpy, pydicom, highdicom, PIL.Image  # noqa: F401 - the imports are the baseline
import isal.isal_zlib, fast_simplification  # noqa: F401
from imaging.conversion.pipeline import convert
from imaging.conversion import meshes, segmentation, volume  # noqa: F401

series_dir, seg_path, work_dir = sys.argv[1:4]
with open('/proc/self/clear_refs', 'w') as fh:
    fh.write('5')  # reset VmHWM (peak RSS) to the current RSS
baseline = status('VmRSS')
start = time.perf_counter()
result = convert(inputs=[Path(series_dir)], work_dir=Path(work_dir), segmentation=Path(seg_path))
total = time.perf_counter() - start
peak = status('VmHWM')
meta = result.metadata
nbytes = 1
for d in meta['dimensions']:
    nbytes *= d
nbytes *= {'int16': 2, 'float32': 4}[meta['dtype']]
print(json.dumps({
    'total': total, 'stages': result.stage_seconds, 'baseline': baseline, 'peak': peak,
    'volume_bytes': nbytes, 'dimensions': meta['dimensions'], 'vti_bytes': meta['vti']['bytes'],
    'structures': [{'name': s.name, 'cells': s.metadata['cell_count'], 'volume_ml': s.metadata['volume_ml'],
                    'mesh_volume_ml': s.metadata['mesh_volume_ml'], 'open_edges': s.metadata['open_edges']}
                   for s in result.structures],
}))
"""


def _phantom(root: Path, size: Literal["small", "full"], seed: int) -> tuple[Path, Path]:
    from imaging.conversion.phantom import write_phantom

    series_dir, seg_path = root / "phantom" / "ct", root / "phantom" / "segmentation.dcm"
    marker = root / "phantom" / f".complete-{size}-{seed}"
    if not marker.exists():
        start = time.perf_counter()
        files = write_phantom(root / "phantom", size=size, seed=seed, segmentation_format="seg")
        marker.touch()
        print(f"phantom written in {time.perf_counter() - start:.1f} s (not timed): {files.series_dir}")
    return series_dir, seg_path


def _floor(files: list[Path]) -> float:
    import numpy as np
    import pydicom

    start = time.perf_counter()
    first = pydicom.dcmread(files[0]).pixel_array
    out = np.empty((len(files), *first.shape), dtype=first.dtype)
    out[0] = first
    for k, path in enumerate(files[1:], start=1):
        out[k] = pydicom.dcmread(path).pixel_array
    return time.perf_counter() - start


def _run_child(series_dir: Path, seg_path: Path, work_dir: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(series_dir), str(seg_path), str(work_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"pipeline failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["full", "small"], default="full")
    parser.add_argument("--keep", type=Path, default=None, help="keep the phantom and outputs in this folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        series_dir, seg_path = _phantom(root, args.size, args.seed)
        files = sorted(series_dir.iterdir())
        for path in files:  # warm the page cache for both measurements
            path.read_bytes()
        seg_path.read_bytes()

        floors, runs = [], []
        for _ in range(args.repeat):
            floors.append(_floor(files))
            runs.append(_run_child(series_dir, seg_path, root / "work"))
        floor = statistics.median(floors)
        # Each repetition measures the floor and then the pipeline, back to back: on a shared machine
        # the load drifts, so the ratio of each pair is reported too.
        pair_ratios = sorted(r["total"] / f for r, f in zip(runs, floors, strict=True))
        runs.sort(key=lambda r: r["total"])
        run = runs[len(runs) // 2]
        total = run["total"]
        peak = run["peak"] - run["baseline"]
        volume_bytes = run["volume_bytes"]

        mib = 1024**2
        print(
            f"\nsize {args.size}: {' x '.join(map(str, run['dimensions']))} voxels, {len(files)} files, "
            f"{len(run['structures'])} structures, {os.cpu_count()} cores, median of {args.repeat} runs"
        )
        print("stage times (s; 'volume' runs on a background thread, overlapping segmentation and meshes):")
        for name, seconds in run["stages"].items():
            if name != "total":
                print(f"  {name:<14}{seconds:8.3f}")
        totals = ", ".join(f"{r['total']:.3f}" for r in runs)
        print(f"  {'total':<14}{total:8.3f}   (runs: {totals})")
        print(
            f"floor (pydicom dcmread + pixel_array of the same files): {floor:.3f} s "
            f"(runs: {', '.join(f'{f:.3f}' for f in floors)})"
        )
        print(
            f"peak memory: {peak / mib:.0f} MiB above a {run['baseline'] / mib:.0f} MiB baseline after "
            f"imports (VmHWM {run['peak'] / mib:.0f} MiB); volume {volume_bytes / mib:.0f} MiB; "
            f".vti {run['vti_bytes'] / mib:.0f} MiB"
        )
        time_ratio = total / floor
        mem_ratio = peak / volume_bytes
        print(
            f"ratio total / floor:        {time_ratio:6.2f}  (target <= 10)  "
            f"{'met' if time_ratio <= 10 else 'NOT met'}   (medians of each)"
        )
        print(
            f"  per repetition (pipeline / floor measured just before it): "
            f"{', '.join(f'{r:.2f}' for r in pair_ratios)}; median {statistics.median(pair_ratios):.2f}"
        )
        print(f"ratio peak memory / volume: {mem_ratio:6.2f}  (target <= 4)   {'met' if mem_ratio <= 4 else 'NOT met'}")
        for s in run["structures"]:
            print(
                f"  {s['name']:<14} {s['cells']:>7} triangles  {s['volume_ml']:9.2f} ml labelled  "
                f"{s['mesh_volume_ml']:9.2f} ml mesh  open edges {s['open_edges']}"
            )


if __name__ == "__main__":
    main()
