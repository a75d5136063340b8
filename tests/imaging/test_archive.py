"""Safe extraction of uploaded zips: bombs, traversal, links and too many files are refused."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from imaging.conversion.archive import ExtractionBudget, extract_zip, gather_files
from imaging.conversion.errors import IngestError


def _zip(path: Path, entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _budget(max_bytes: int = 10 * 1024**2, max_files: int = 100) -> ExtractionBudget:
    return ExtractionBudget(max_bytes=max_bytes, max_files=max_files)


def test_nested_folders_extract(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "upload.zip",
        {
            "study/series 1/IM0001": b"a",
            "study/series 1/IM0002": b"b",
            "study/readme.txt": b"c",
            "__MACOSX/study/._IM0001": b"junk",
            "study/series 1/._IM0002": b"junk",
        },
    )
    files, skipped = extract_zip(archive, tmp_path / "out", _budget())
    names = sorted(p.relative_to(tmp_path / "out").as_posix() for p in files)
    assert names == ["study/readme.txt", "study/series 1/IM0001", "study/series 1/IM0002"]
    assert skipped == 2
    assert (tmp_path / "out/study/series 1/IM0002").read_bytes() == b"b"


def test_zip_bomb_refused_before_writing(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", {f"f{i}.bin": b"\0" * 2_000_000 for i in range(3)})
    assert archive.stat().st_size < 50_000  # compresses ~1000:1
    with pytest.raises(IngestError) as err:
        extract_zip(archive, tmp_path / "out", _budget(max_bytes=5_000_000))
    assert err.value.code == "archive_too_large"
    assert "GiB" in err.value.message and "bomb.zip" in err.value.message
    assert not (tmp_path / "out").exists()


def test_lying_size_header_cannot_smuggle_bytes(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "liar.zip", {"big.bin": b"\0" * 1_000_000})
    data = bytearray(archive.read_bytes())
    # Patch the declared uncompressed size (local header offset 22, central directory offset 24).
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 22 : local + 26] = (10).to_bytes(4, "little")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(IngestError) as err:
        extract_zip(archive, tmp_path / "out", _budget(max_bytes=100_000))
    assert err.value.code in {"archive_too_large", "archive_corrupt"}
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= 100_000


@pytest.mark.parametrize(
    "name",
    [
        "../evil.dcm",
        "a/../../evil.dcm",
        "/etc/evil.dcm",
        "C:/evil.dcm",
        "..\\evil.dcm",
        "ok/..\\..\\evil.dcm",
    ],
)
def test_path_traversal_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "traversal.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.dcm", b"x")
        zf.writestr(zipfile.ZipInfo(name), b"x")
    with pytest.raises(IngestError) as err:
        extract_zip(archive, tmp_path / "out", _budget())
    assert err.value.code == "archive_unsafe_path"
    assert not (tmp_path / "out").exists()  # refused before anything was written
    assert not (tmp_path / "evil.dcm").exists()


def test_symlink_entry_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("series/link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(IngestError) as err:
        extract_zip(archive, tmp_path / "out", _budget())
    assert err.value.code == "archive_unsafe_path"
    assert "symbolic link" in err.value.message


def test_too_many_files(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "many.zip", {f"IM{i:04d}": b"x" for i in range(12)})
    with pytest.raises(IngestError) as err:
        extract_zip(archive, tmp_path / "out", _budget(max_files=10))
    assert err.value.code == "too_many_files"
    assert "12" in err.value.message


def test_corrupt_archive(tmp_path: Path) -> None:
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04" + b"\x13" * 200)
    with pytest.raises(IngestError) as err:
        gather_files([archive], tmp_path / "out", _budget())
    assert err.value.code == "archive_corrupt"


def test_gather_mixes_files_folders_and_zips(tmp_path: Path) -> None:
    folder = tmp_path / "folder" / "deep"
    folder.mkdir(parents=True)
    (folder / "a.dcm").write_bytes(b"a")
    loose = tmp_path / "b.dcm"
    loose.write_bytes(b"b")
    archive = _zip(tmp_path / "c.zip", {"x/c.dcm": b"c"})
    renamed = tmp_path / "upload-without-extension"
    renamed.write_bytes(_zip(tmp_path / "d.zip", {"d.dcm": b"d"}).read_bytes())
    result = gather_files([tmp_path / "folder", loose, archive, renamed], tmp_path / "extracted", _budget())
    assert sorted(p.name for p in result.files) == ["a.dcm", "b.dcm", "c.dcm", "d.dcm"]
    assert result.archives == 2
    with pytest.raises(IngestError) as err:
        gather_files([tmp_path / "missing"], tmp_path / "extracted2", _budget())
    assert err.value.code == "input_missing"


def test_budget_is_shared_across_archives(tmp_path: Path) -> None:
    first = _zip(tmp_path / "one.zip", {f"a{i}": b"x" for i in range(6)})
    second = _zip(tmp_path / "two.zip", {f"b{i}": b"x" for i in range(6)})
    with pytest.raises(IngestError) as err:
        gather_files([first, second], tmp_path / "out", _budget(max_files=10))
    assert err.value.code == "too_many_files"
