"""Benchmark of the viewer's fast first view and of publishing a bundle, on the full phantom.

Usage::

    python benchmarks/viewer.py [--repeat N] [--keep DIR]

Needs Node.js and the pinned vtk.js of the tests (`npm ci --prefix tests/viewer`; `make bench-viewer`
does both). What it does, in order:

1. Writes the full phantom (512 x 512 x 300 CT, 0.78 x 0.78 x 1 mm, six labels) and converts it with
   ``imaging.conversion.pipeline.convert``: the full volume, its preview level and the meshes, exactly
   as ingestion writes them. Not timed.
2. Builds a liver mesh over 100k triangles (the phantom's own meshes are decimated to at most 80k, so
   none gets a light level): ``mesh_label`` with decimation off, which also writes its light level.
3. Parse time and memory with vtk.js in Node (``tests/viewer/vtkjs_parse.mjs``, the viewer's readers,
   ``parseAsArrayBuffer``): each file in a fresh ``node`` process, ``--repeat`` times; the median
   seconds and the median peak RSS growth while parsing. Measured twice: *cold* (the first file the
   process parses: vtk.js's code is compiled during it, about 0.3 s here whatever the size) and *warm*
   (after parsing a tiny .vti and .vtp, unmeasured: the viewer's state once it has read the meshes,
   which it does before the volume). Ratios: preview / full volume, light / full mesh. Target: the
   preview parses in at most 15% of the full volume's time (warm; the cold ratio is printed too).
4. Publishing: an embedded SQLite demo database and filesystem storages in a temp folder, a published
   case holding the converted study, structures and three documents; ``bundles.sync_bundle`` from an
   empty folder, against the baseline of copying the same source files into the viewer storage with
   ``shutil.copyfile`` (the floor: the bytes must be copied), ``--repeat`` times each, medians.
   Then the same on S3: every storage on buckets of a moto server started for the run (over HTTP),
   against one server-side CopyObject per source file. Target: publishing takes at most 2 x the copy.

Times are wall-clock on whatever machine runs it; the ratios are measured in the same run, so they
compare like with like. The 2-core development machine is shared with other work: expect noise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "viewer"
sys.path.insert(0, str(ROOT))


def _node_parse(path: Path, repeat: int, *, warm: Path | None = None) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@kitware" / "vtk.js").is_dir():
        raise SystemExit("Needs node and `npm ci --prefix tests/viewer` (make bench-viewer does both).")
    runs = []
    for _ in range(repeat):
        warm_args = ["--warm", str(warm)] if warm is not None else []
        out = subprocess.run(
            [node, "--expose-gc", str(NODE_DIR / "vtkjs_parse.mjs"), *warm_args, str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    median = statistics.median(r["seconds"] for r in runs)
    memory = statistics.median(r["rss_peak_growth_bytes"] for r in runs)
    return {**runs[0], "seconds": median, "rss_peak_growth_bytes": memory}


def _convert(work: Path) -> Any:
    from imaging.conversion.phantom import write_phantom
    from imaging.conversion.pipeline import convert

    phantom_dir = work / "phantom"
    if not (phantom_dir / "series").exists():
        print("Writing the full phantom (512 x 512 x 300)...", flush=True)
    phantom = write_phantom(phantom_dir, size="full", seed=3)
    print("Converting it (volume, preview level, meshes)...", flush=True)
    return convert(inputs=[phantom.series_dir], work_dir=work / "convert", segmentation=phantom.segmentation_path)


def _heavy_liver(work: Path) -> tuple[Path, Path]:
    from imaging.conversion.geometry import ImageGrid
    from imaging.conversion.meshes import MeshSettings, label_extents, mesh_label
    from imaging.conversion.phantom import build_phantom

    _, labels, origin, spacing = build_phantom("full")
    grid = ImageGrid(
        dimensions=(labels.shape[2], labels.shape[1], labels.shape[0]),
        spacing=(float(spacing[0]), float(spacing[1]), float(spacing[2])),
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
    )
    z0, z1, count = label_extents(labels)[1]  # label 1: the liver
    settings = MeshSettings(keep_fraction=1.0, max_cells=10_000_000, coarsen_above_voxels=None, workers=1)
    print("Meshing the liver without decimation (a mesh over 100k triangles, and its light level)...", flush=True)
    mesh = mesh_label(
        labels, grid, 1, "liver", work / "heavy" / "liver.vtp", z_range=(z0, z1), voxel_count=count, settings=settings
    )
    assert mesh.light_path is not None, "the undecimated liver should be over the light threshold"
    return mesh.path, mesh.light_path


def _warm_up_files(work: Path) -> dict[str, Path]:
    """A tiny .vti and .vtp for the warm runs (written by the same writers as ingestion)."""
    import numpy as np

    from imaging.conversion.geometry import ImageGrid
    from imaging.conversion.meshes import label_extents, mesh_label
    from imaging.conversion.volume import write_vti

    folder = work / "warm-up"
    folder.mkdir(exist_ok=True)
    grid = ImageGrid(dimensions=(16, 16, 16), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    z, y, x = np.ogrid[:16, :16, :16]
    ball = (((x - 7.5) ** 2 + (y - 7.5) ** 2 + (z - 7.5) ** 2) <= 36).astype(np.uint8)
    write_vti(folder / "warm.vti", (ball * 100).astype(np.int16), grid)
    z0, z1, count = label_extents(ball)[1]
    mesh_label(ball, grid, 1, "ball", folder / "warm.vtp", z_range=(z0, z1), voxel_count=count)
    return {".vti": folder / "warm.vti", ".vtp": folder / "warm.vtp"}


def _django(var: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["HPB_VAR_DIR"] = str(var)
    os.environ["DATABASE_URL"] = f"sqlite:///{var / 'bench.sqlite3'}"
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _published_case(result: Any) -> int:
    """A published case holding the converted study, its structures and three documents (no signals)."""
    from cases.models import Case, Document, Patient
    from hpb import storage
    from imaging.models import CaseStructure, ImagingStudy
    from imaging.services import storage_io

    patient, _ = Patient.objects.get_or_create(mrn="BENCH-0001", first_name="Ada", last_name="Quillfeather")
    number = Case.objects.count() + 1
    case = Case.objects.create(
        patient=patient, slug=f"benchmark-{number}", title="Benchmark case", status=Case.Status.DRAFT
    )
    prefix = f"cases/{case.pk}/studies/1/"
    for path in result.volume_levels.values():
        storage_io.upload("assets", prefix + path.name, path)
    metadata = dict(result.metadata)
    study = ImagingStudy.objects.create(
        case=case, label="CT", volume_uri=storage.reference_for("assets", prefix + "volume.vti"), metadata=metadata
    )
    for structure in result.structures:
        key = f"{prefix}structures/{structure.mesh_path.name}"
        storage_io.upload("assets", key, structure.mesh_path)
        CaseStructure.objects.create(
            case=case,
            imaging_study=study,
            name=structure.name,
            color_hex=structure.color_hex,
            mesh_uri=storage.reference_for("assets", key),
            metadata=structure.metadata,
        )
    for index, (mime, body) in enumerate(
        [("text/plain", b"Imaging report.\n" * 200), ("text/csv", b"test,value\nbilirubin,12\n" * 50)]
        + [("application/pdf", _pdf())]
    ):
        reference = storage.save("documents", f"documents/bench-{case.pk}-{index}", body)
        document = Document.objects.create(
            slug=f"bench-{case.pk}-{index}",
            title=f"Document {index}",
            mime_type=mime,
            storage_uri=reference,
            deidentified=True,
        )
        document.cases.add(case)
    Case.objects.filter(pk=case.pk).update(status=Case.Status.PUBLISHED)  # .update(): no signal, no build yet
    return case.pk


def _pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for line in range(60):
        pdf.cell(0, 6, f"Operative note, line {line}.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _publish_vs_copy(case_id: int, repeat: int, *, s3: bool = False) -> dict[str, float]:
    from hpb import storage
    from imaging.models import ViewerBundle
    from imaging.services import bundles

    if s3:
        return _publish_vs_copy_s3(case_id, repeat)
    publish, copy = [], []
    for _ in range(repeat):
        ViewerBundle.objects.filter(case_id=case_id).delete()
        bundles.remove_folder(bundles.folder_name(case_id))
        started = time.perf_counter()
        outcome = bundles.sync_bundle(case_id=case_id)
        publish.append(time.perf_counter() - started)
        assert outcome.action == "published", outcome
        plan_files = ViewerBundle.objects.get(case_id=case_id).manifest["files"]
        sources = _sources(case_id)
        target = Path(storage.get_storage("viewer").path("copy-baseline"))
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        started = time.perf_counter()
        for index, source in enumerate(sources):
            shutil.copyfile(source, target / f"{index}")
        copy.append(time.perf_counter() - started)
        shutil.rmtree(target)
    size = sum(Path(s).stat().st_size for s in _sources(case_id))
    return {
        "publish_s": statistics.median(publish),
        "copy_s": statistics.median(copy),
        "files": len(plan_files) + 1,
        "bytes": size,
    }


def _publish_vs_copy_s3(case_id: int, repeat: int) -> dict[str, float]:
    """The same on S3 (moto's server over HTTP): the baseline is one server-side CopyObject per source."""
    from hpb import storage
    from imaging.models import ViewerBundle
    from imaging.services import bundles, bundles_storage

    client = bundles_storage._client("viewer")
    viewer = storage.bucket_name("viewer")
    publish, copy = [], []
    for _ in range(repeat):
        ViewerBundle.objects.filter(case_id=case_id).delete()
        bundles.remove_folder(bundles.folder_name(case_id))
        started = time.perf_counter()
        outcome = bundles.sync_bundle(case_id=case_id)
        publish.append(time.perf_counter() - started)
        assert outcome.action == "published", outcome
        started = time.perf_counter()
        for index, reference in enumerate(_source_references(case_id)):
            obj = storage.parse_reference(reference)
            client.copy({"Bucket": storage.bucket_name(obj.alias), "Key": obj.key}, viewer, f"copy-baseline/{index}")
        copy.append(time.perf_counter() - started)
        bundles_storage.delete_keys(sorted(bundles_storage.list_keys("copy-baseline/")))
    files = len(ViewerBundle.objects.get(case_id=case_id).manifest["files"]) + 1
    return {"publish_s": statistics.median(publish), "copy_s": statistics.median(copy), "files": files, "bytes": 0}


def _source_references(case_id: int) -> list[str]:
    from cases.models import Document
    from imaging.models import CaseStructure, ImagingStudy

    references = [ImagingStudy.objects.get(case_id=case_id).volume_uri]
    references += list(CaseStructure.objects.filter(case_id=case_id).values_list("mesh_uri", flat=True))
    return references + list(Document.objects.filter(cases=case_id).values_list("storage_uri", flat=True))


def _sources(case_id: int) -> list[str]:
    """The source files a bundle of the case copies (volume, meshes, documents), as local paths."""
    from cases.models import Document
    from hpb import storage
    from imaging.models import CaseStructure, ImagingStudy

    references = [ImagingStudy.objects.get(case_id=case_id).volume_uri]
    references += list(CaseStructure.objects.filter(case_id=case_id).values_list("mesh_uri", flat=True))
    references += list(Document.objects.filter(cases=case_id).values_list("storage_uri", flat=True))
    paths = []
    for reference in references:
        obj = storage.parse_reference(reference)
        paths.append(storage.get_storage(obj.alias).path(obj.key))
    return paths


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Keep the phantom and outputs in this folder (reused).")
    parser.add_argument("--only", choices=["parse", "publish"], help="Run one half of the benchmark.")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="hpb-bench-viewer-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = _convert(work)
        volume_ratio, ratio = 0.0, 0.0
        if args.only != "publish":
            volume_ratio = _parse_figures(result, work, args.repeat)
        if args.only != "parse":
            ratio = _publish_figures(result, work, args.repeat)
        ok = volume_ratio <= 0.15 and ratio <= 2.0
        print("\nTargets met." if ok else "\nA target was missed (the machine may be busy: run again).")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _parse_figures(result: Any, work: Path, repeat: int) -> float:
    """Step 3; returns the warm preview / full volume time ratio."""
    heavy, light = _heavy_liver(work)
    warm = _warm_up_files(work)
    files = {
        "full volume": result.volume_levels["full"],
        "preview volume": result.volume_levels["preview"],
        "full liver mesh": heavy,
        "light liver mesh": light,
    }
    ratios = {}
    for mode in ("cold", "warm"):
        print(f"\nvtk.js parse in Node, {mode} (median of {repeat}, a fresh process each):")
        parsed = {
            name: _node_parse(path, repeat, warm=warm[path.suffix] if mode == "warm" else None)
            for name, path in files.items()
        }
        for name, run in parsed.items():
            shape = run.get("dimensions") or f"{run.get('cells')} triangles"
            print(
                f"  {name:17} {run['seconds']:7.3f} s  peak RSS +{_mib(run['rss_peak_growth_bytes']):>11}  "
                f"file {_mib(run['file_bytes']):>10}  {shape}"
            )
        ratios[mode] = parsed["preview volume"]["seconds"] / parsed["full volume"]["seconds"]
        memory_ratio = parsed["preview volume"]["rss_peak_growth_bytes"] / max(
            1, parsed["full volume"]["rss_peak_growth_bytes"]
        )
        mesh_ratio = parsed["light liver mesh"]["seconds"] / parsed["full liver mesh"]["seconds"]
        print(f"  preview / full volume: time {ratios[mode]:.1%}, peak memory {memory_ratio:.1%}")
        print(f"  light / full mesh: time {mesh_ratio:.1%}")
    print(f"  target: preview <= 15% of the full volume's time (warm): {ratios['warm']:.1%}")
    return ratios["warm"]


def _publish_figures(result: Any, work: Path, repeat: int) -> float:
    """Step 4, on the filesystem storages and on S3 (moto); returns the worse publish / copy ratio."""
    var = work / "var"
    shutil.rmtree(var, ignore_errors=True)
    _django(var)
    case_id = _published_case(result)
    figures = _publish_vs_copy(case_id, repeat)
    ratio = figures["publish_s"] / figures["copy_s"]
    print(f"\nPublishing a bundle ({figures['files']} files, {_mib(figures['bytes'])}), median of {repeat}:")
    print(f"  filesystem: copy of the source files {figures['copy_s']:.3f} s, publish {figures['publish_s']:.3f} s")
    print(f"  publish / copy: {ratio:.2f}x (target <= 2x)")
    with _moto_storages():
        s3_case = _published_case(result)
        s3 = _publish_vs_copy(s3_case, repeat, s3=True)
    s3_ratio = s3["publish_s"] / s3["copy_s"]
    print(f"  S3 (moto over HTTP): server-side copies {s3['copy_s']:.3f} s, publish {s3['publish_s']:.3f} s")
    print(f"  publish / copy: {s3_ratio:.2f}x (target <= 2x)")
    return max(ratio, s3_ratio)


@contextlib.contextmanager
def _moto_storages() -> Iterator[None]:
    """Every storage on fresh buckets of a moto server started for the run (the tests' way)."""
    import boto3
    import requests
    from django.conf import settings
    from django.test import override_settings

    from hpb.settings_helpers import build_storages

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        buckets = {alias: f"bench-{alias}" for alias in ("documents", "assets", "uploads", "viewer")}
        for bucket in buckets.values():
            client.create_bucket(Bucket=bucket)
        storages = build_storages(
            buckets=buckets, root=settings.STORAGE_ROOT, region="us-east-1", endpoint_url=endpoint, expiry_seconds=900
        )
        storages["staticfiles"] = settings.STORAGES["staticfiles"]
        with override_settings(STORAGES=storages, AWS_S3_ENDPOINT_URL=endpoint):
            yield
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
