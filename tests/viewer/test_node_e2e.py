"""The viewer's part end to end, in Node with vtk.js (pinned in tests/viewer/package.json): list moto's S3
bucket anonymously as the viewer does, fetch each case's manifest and every file it names, parse them.

Marker `node` (excluded from the default run; `make test-viewer-node` installs the packages with
`npm ci` and runs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import override_settings

from imaging.models import CaseStructure, ImagingStudy
from imaging.services import bundles
from tests.viewer.conftest import make_bundle_case
from tests.viewer.test_bucket import _public_read

pytestmark = [pytest.mark.node, pytest.mark.django_db]
HERE = Path(__file__).parent


def _node_e2e(address: str, host: str, max_keys: int = 2) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is not installed (make test-viewer-node installs nodejs and npm with apt-get)"
    assert (HERE / "node_modules" / "@kitware" / "vtk.js").is_dir(), "run `npm ci --prefix tests/viewer` first"
    result = subprocess.run(
        [node, str(HERE / "viewer_e2e.mjs"), address, host, bundles.base_prefix(), str(max_keys)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_the_viewer_reads_every_published_case_from_moto_with_vtkjs(
    viewer_s3: dict[str, str], s3_client: Any, moto_server: str
) -> None:
    full = make_bundle_case()
    preview = make_bundle_case(mrn="MRN-77342")
    folders = {bundles.sync_bundle(case_id=full.case.pk).folder: full}
    with override_settings(VIEWER_BUNDLE_VOLUME="preview"):
        folders[bundles.sync_bundle(case_id=preview.case.pk).folder] = preview
    _public_read(s3_client, viewer_s3["viewer"])
    port = urlsplit(moto_server).port

    seen = _node_e2e(moto_server, f"{viewer_s3['viewer']}.s3.localhost:{port}")

    assert sorted(c["folder"] for c in seen["cases"]) == sorted(folders)
    for case in seen["cases"]:
        made = folders[case["folder"]]
        manifest = case["manifest"]
        assert manifest["title"] == made.case.title
        study = ImagingStudy.objects.get(case=made.case)
        volume = case["files"][case["volume"]]
        assert case["volume"] == manifest["volume"]["output"]
        assert volume["dimensions"] == manifest["volume"]["dimensions"] and volume["scalars"] == "HU"
        assert volume["origin"] == pytest.approx(study.metadata["origin"])  # same first voxel centre, any level
        factor = 2 if manifest["volume"]["level"] == "preview" else 1
        assert volume["spacing"] == pytest.approx([factor * s for s in study.metadata["spacing"]])
        assert volume["dimensions"] == ([48, 48, 24] if factor == 2 else [96, 96, 48])
        cells = {s.name: s.metadata["cell_count"] for s in CaseStructure.objects.filter(case=made.case)}
        assert sorted(case["meshes"]) == sorted(manifest["meshes"].values())
        for name, path in manifest["meshes"].items():
            mesh = case["files"][path]
            assert mesh["cells"] == cells[name] and mesh["normals"], name
        assert sorted(case["documents"]) == sorted(d["filename"] for d in manifest["documents"])
        assert all(case["files"][d]["pdf"] for d in case["documents"])
    assert {c["manifest"]["volume"]["level"] for c in seen["cases"]} == {"full", "preview"}
