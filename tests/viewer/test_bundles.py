"""A case's viewer bundle against notes/viewer-facts.md, field by field; privacy; replacement; levels."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from pypdf import PdfReader

from hpb import storage
from imaging.models import CaseStructure, ViewerBundle
from imaging.services import bundles, bundles_storage
from tests.viewer.conftest import BORN, FIRST, LAST, MRN, BundleCase

pytestmark = pytest.mark.django_db


def _manifest(folder: str) -> dict[str, Any]:
    reference = storage.reference_for("viewer", bundles.folder_prefix(folder) + "manifest.json")
    return json.loads(bundles_storage.read_bytes(reference))


def _files(folder: str) -> dict[str, bytes]:
    prefix = bundles.folder_prefix(folder)
    return {
        key[len(prefix) :]: bundles_storage.read_bytes(storage.reference_for("viewer", key))
        for key in bundles_storage.list_keys(prefix)
    }


def test_a_published_case_gets_every_field_the_viewer_reads(bundle_case: BundleCase) -> None:
    outcome = bundles.sync_bundle(case_id=bundle_case.case.pk)

    assert outcome.action == "published"
    assert re.fullmatch(r"case-[0-9a-f]{16}", outcome.folder)
    manifest = _manifest(outcome.folder)
    files = _files(outcome.folder)
    # How it finds cases: the folder, then manifest.json in it.
    assert manifest["case_id"] == outcome.folder
    assert manifest["title"] == "Right hepatectomy for colorectal metastases"
    assert manifest["focus"] == bundle_case.case.focus
    # volume: {"output": relative path} naming a *_volume.vti of the folder.
    assert re.fullmatch(r"ct-[0-9a-f]{10}_volume\.vti", manifest["volume"]["output"])
    assert manifest["volume"]["output"] in files and manifest["volume"]["level"] == "full"
    # meshes and segmentations: display names for segmentations/*.vtp, all present.
    structures = set(CaseStructure.objects.filter(case=bundle_case.case).values_list("name", flat=True))
    assert set(manifest["meshes"]) == structures == {s["display_name"] for s in manifest["segmentations"]}
    for entry in manifest["segmentations"]:
        assert re.fullmatch(r"segmentations/[a-z0-9-]+-[0-9a-f]{10}\.vtp", entry["output"])
        assert manifest["meshes"][entry["display_name"]] == entry["output"] and entry["output"] in files
        assert files[entry["output"]].startswith(b'<VTKFile type="PolyData"')
    # documents: title, filename (clinical_files/*.pdf), summary; only the publishable ones.
    titles = {d["title"] for d in manifest["documents"]}
    assert titles == {"Imaging report", "Laboratory results", "Operative note"}
    for entry in manifest["documents"]:
        assert re.fullmatch(r"clinical_files/[a-z0-9-]+-[0-9a-f]{10}\.pdf", entry["filename"])
        assert files[entry["filename"]].startswith(b"%PDF-") and entry["summary"].startswith("Synthetic")
    # metadata: the strings the viewer shows as they are; timestamp in Unix seconds.
    assert manifest["metadata"]["voxels"] == "96 × 96 × 48"
    assert re.fullmatch(r"[0-9.]+ mm × [0-9.]+ mm × [0-9.]+ mm", manifest["metadata"]["spacing"])
    assert "3 de-identified documents" in manifest["metadata"]["notes"]
    assert abs(manifest["timestamp"] - time.time()) < 120
    assert manifest["request_id"] == f"bundle-{manifest['content_hash'][:12]}"
    # The folder holds only what the viewer keeps, and the manifest lists every file.
    assert set(files) == {f["path"] for f in manifest["files"]} | {"manifest.json"}
    row = ViewerBundle.objects.get(case=bundle_case.case)
    assert row.manifest == manifest and row.folder == outcome.folder and row.published_at is not None


def test_only_deidentified_documents_without_identifiers_go_in(bundle_case: BundleCase) -> None:
    outcome = bundles.sync_bundle(case_id=bundle_case.case.pk)

    row = ViewerBundle.objects.get(case=bundle_case.case)
    leaky, private = bundle_case.documents["leaky"], bundle_case.documents["private"]
    assert row.withheld == [{"item": f"document {leaky.pk}", "reason": "Its title, summary or text contains the MRN."}]
    assert private.title not in json.dumps(_manifest(outcome.folder))
    files = _files(outcome.folder)
    texts = {
        path: "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
        for path, data in files.items()
        if path.endswith(".pdf")
    }
    assert any("bilirubin" in text and "umol/L" in text for text in texts.values())  # the CSV, typeset
    assert any("segment VII lesion" in text for text in texts.values())  # the text report
    for path, data in files.items():
        if path.endswith(".pdf"):
            info = PdfReader(io.BytesIO(data)).metadata
            assert LAST not in json.dumps({str(k): str(v) for k, v in (info or {}).items()})


def test_no_identifier_anywhere_in_the_bundle(bundle_case: BundleCase) -> None:
    outcome = bundles.sync_bundle(case_id=bundle_case.case.pk)

    needles = [MRN, FIRST, LAST, BORN.isoformat(), BORN.strftime("%d/%m/%Y"), BORN.strftime("%m/%d/%Y"), "19510314"]
    for path, data in _files(outcome.folder).items():
        text = data.decode("latin-1")
        if path.endswith(".pdf"):
            text += "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
        for needle in needles:
            assert needle.lower() not in path.lower(), (needle, path)
            assert needle.lower() not in text.lower(), (needle, path)


def test_a_title_naming_the_patient_stops_the_bundle(bundle_case: BundleCase) -> None:
    folder = bundles.sync_bundle(case_id=bundle_case.case.pk).folder
    bundle_case.case.title = f"Hepatectomy, {LAST.upper()}"
    bundle_case.case.save()

    outcome = bundles.sync_bundle(case_id=bundle_case.case.pk)

    assert outcome.action == "refused" and outcome.folder == folder
    assert "the last name" in outcome.message and LAST not in outcome.message
    assert bundles_storage.list_keys(bundles.folder_prefix(folder)) == {}
    assert ViewerBundle.objects.get(case=bundle_case.case).error == outcome.message


def test_an_unchanged_case_is_not_written_again(bundle_case: BundleCase, monkeypatch: pytest.MonkeyPatch) -> None:
    first = bundles.sync_bundle(case_id=bundle_case.case.pk)
    before = _manifest(first.folder)
    writes: list[str] = []
    monkeypatch.setattr(bundles_storage, "put_bytes", lambda key, *a, **k: writes.append(key))

    again = bundles.sync_bundle(case_id=bundle_case.case.pk)

    assert (again.action, again.written, writes) == ("unchanged", 0, [])
    assert _manifest(first.folder) == before


def test_replacement_writes_files_first_the_manifest_last_then_drops_the_old(
    bundle_case: BundleCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = bundles.sync_bundle(case_id=bundle_case.case.pk).folder
    prefix = bundles.folder_prefix(folder)
    old = set(_files(folder))
    liver = CaseStructure.objects.get(case=bundle_case.case, name="liver")
    storage.save("assets", storage.parse_reference(liver.mesh_uri).key, Path(_mesh_source(liver)).read_bytes() + b"\n")
    events: list[tuple[str, str]] = []

    def reader_view() -> None:
        """What a viewer listing the folder now would get: the manifest names only files that exist."""
        present = {k[len(prefix) :] for k in bundles_storage.list_keys(prefix)}
        if "manifest.json" in present:
            named = {f["path"] for f in _manifest(folder)["files"]}
            assert named <= present, named - present

    for name in ("put_bytes", "copy_object", "delete_keys"):
        real = getattr(bundles_storage, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            reader_view()
            result = _real(*args, **kwargs)
            events.append((_name, str(args[1] if _name == "copy_object" else args[0])))
            reader_view()
            return result

        monkeypatch.setattr(bundles_storage, name, spy)

    outcome = bundles.sync_bundle(case_id=bundle_case.case.pk)

    assert outcome.action == "published" and outcome.written == 2  # the new liver mesh and the manifest
    kinds = [kind for kind, _ in events]
    manifest_at = events.index(("put_bytes", prefix + "manifest.json"))
    assert kinds[:manifest_at] == ["copy_object"] and kinds[manifest_at + 1 :] == ["delete_keys"]
    new = set(_files(folder))
    assert len(old - new) == 1 and len(new - old) == 1  # the liver's file was replaced under a new name


def _mesh_source(structure: CaseStructure) -> str:
    return storage.get_storage("assets").path(storage.parse_reference(structure.mesh_uri).key)


def test_the_preview_level_goes_in_when_asked(bundle_case: BundleCase, settings: Any) -> None:
    settings.VIEWER_BUNDLE_VOLUME = "preview"

    outcome = bundles.sync_bundle(case_id=bundle_case.case.pk)

    manifest = _manifest(outcome.folder)
    assert manifest["volume"]["level"] == "preview" and manifest["volume"]["dimensions"] == [48, 48, 24]
    assert manifest["metadata"]["voxels"] == "48 × 48 × 24"
    assert "half-resolution preview" in manifest["metadata"]["notes"]
    vti = _files(outcome.folder)[manifest["volume"]["output"]]
    assert b'WholeExtent="0 47 0 47 0 23"' in vti[:600]


def test_the_command_rebuilds_and_prunes_foreign_folders(bundle_case: BundleCase) -> None:
    stray = bundles.folder_prefix("case-0000000000000000") + "manifest.json"
    bundles_storage.put_bytes(stray, b"{}", content_type="application/json", cache_control="no-cache")
    out = io.StringIO()

    call_command("publish_viewer_bundles", "--prune", stdout=out)

    assert "1 published" in out.getvalue() and "Pruned 1 folder" in out.getvalue()
    folder = ViewerBundle.objects.get(case=bundle_case.case).folder
    assert bundles_storage.list_folders(bundles.base_prefix()) == [folder]
