"""Turning an upload (files, folders, zip archives) into a list of local files, safely.

Uploads come from outside, so a zip is treated as hostile until proven otherwise: its declared sizes
may lie (zip bomb), its names may climb out of the target folder (``../../etc/passwd``, absolute
paths, Windows drive letters) or be symlinks pointing anywhere. Every one of those is refused before
a byte is written, and the actual bytes written are counted as well, so a lying header cannot get
past the cap either. Nested folders inside the archive are fine.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import IngestError

_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
# Finder and Windows leave these in zips; they are never DICOM and are not worth extracting.
_JUNK_PARTS = ("__MACOSX",)
_MAX_NAME_BYTES = 255  # one path component, on every common file system
_SUPPORTED_COMPRESSION = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


@dataclass
class ExtractionBudget:
    """Caps shared by every archive and folder of one upload."""

    max_bytes: int
    max_files: int
    bytes_used: int = 0
    files_used: int = 0

    def take_file(self, what: str) -> None:
        self.files_used += 1
        if self.files_used > self.max_files:
            raise IngestError(
                "too_many_files",
                f"The upload has more than {self.max_files:,} files ({what}). Split it into smaller "
                "uploads, one series or study each.",
            )


@dataclass
class GatheredFiles:
    files: list[Path] = field(default_factory=list)
    archives: int = 0
    skipped_entries: int = 0  # junk entries of archives (__MACOSX, ._*) not extracted


def _shown(name: str) -> str:
    """An entry name for a message: printable, at most 120 characters."""
    text = "".join(c if c.isprintable() else "?" for c in name)
    return text if len(text) <= 120 else text[:117] + "..."


def _check_entry_name(archive: Path, name: str) -> PurePosixPath:
    shown = _shown(name)
    if "\x00" in name:
        raise IngestError("archive_unsafe_path", f"Archive {archive.name} has an entry name with a NUL byte.")
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or _DRIVE.match(normalized):
        raise IngestError(
            "archive_unsafe_path",
            f"Archive {archive.name} has an entry with an absolute path ({shown!r}); it was refused "
            "unopened. Re-create the zip from the folder itself so that names are relative.",
        )
    parts = [p for p in normalized.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise IngestError(
            "archive_unsafe_path",
            f"Archive {archive.name} has an entry that climbs out of its folder ({shown!r}); it was "
            "refused unopened. Re-create the zip from the folder itself.",
        )
    if not parts:
        raise IngestError("archive_unsafe_path", f"Archive {archive.name} has an entry with an empty name.")
    if any(len(p.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES for p in parts):
        raise IngestError(
            "archive_unsafe_path",
            f"Archive {archive.name} has an entry whose name has a part longer than {_MAX_NAME_BYTES} bytes "
            f"({shown!r}); no file system stores it. Re-create the zip with shorter names.",
        )
    return PurePosixPath(*parts)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def extract_zip(archive: Path, dest: Path, budget: ExtractionBudget) -> tuple[list[Path], int]:
    """Extract ``archive`` into ``dest`` (created), refusing anything unsafe.

    Every entry is checked before anything is written, so a refused archive leaves nothing behind.
    Returns the extracted files and the number of junk entries skipped.
    """
    with _open_zip(archive) as zf:
        entries = len(zf.infolist())
        if budget.files_used + entries > budget.max_files * 2:  # before a name is checked: junk counts too
            raise IngestError(
                "too_many_files",
                f"Archive {archive.name} holds {entries:,} entries; the limit for one upload is "
                f"{budget.max_files:,} files. Split it into smaller uploads.",
            )
        planned, skipped = _plan_entries(archive, zf)
        _check_budget(archive, planned, budget)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        out = [_extract_entry(zf, archive, info, rel, root, budget) for info, rel in planned]
    return out, skipped


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise IngestError(
            "archive_corrupt", f"{archive.name} is not a readable zip archive ({exc}). Upload it again."
        ) from exc


def _is_junk(rel: PurePosixPath) -> bool:
    return any(p in _JUNK_PARTS for p in rel.parts) or rel.name.startswith("._")


def _name_key(rel: PurePosixPath) -> str:
    """Names that one file system or another would store as the same file (case, Unicode form)."""
    return unicodedata.normalize("NFC", str(rel)).casefold()


def _plan_entries(archive: Path, zf: zipfile.ZipFile) -> tuple[list[tuple[zipfile.ZipInfo, PurePosixPath]], int]:
    """The entries to extract with their safe relative paths, and the number of junk entries left out."""
    planned: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    skipped = 0
    seen: set[str] = set()
    for info in zf.infolist():
        if info.is_dir():
            continue
        rel = _check_entry(archive, info)
        if _is_junk(rel):
            skipped += 1
            continue
        key = _name_key(rel)
        if key in seen:
            raise IngestError(
                "archive_unsafe_path",
                f"Archive {archive.name} has two entries named {_shown(str(rel))!r} (names that differ only in case "
                "or Unicode form are the same file on many systems). Re-create the zip.",
            )
        seen.add(key)
        planned.append((info, rel))
    _check_file_folder_clash(archive, planned, seen)
    return planned, skipped


def _check_file_folder_clash(
    archive: Path, planned: list[tuple[zipfile.ZipInfo, PurePosixPath]], names: set[str]
) -> None:
    """An entry named like another entry's folder ("a" and "a/b") cannot be extracted as both."""
    for _, rel in planned:
        for parent in list(rel.parents)[:-1]:
            if _name_key(parent) in names:
                raise IngestError(
                    "archive_unsafe_path",
                    f"Archive {archive.name} has an entry {_shown(str(parent))!r} that is also the folder of "
                    f"{_shown(str(rel))!r}. Re-create the zip from the folder itself.",
                )


def _check_entry(archive: Path, info: zipfile.ZipInfo) -> PurePosixPath:
    """The entry's safe relative path; a link or a password-protected entry is refused."""
    # zipfile cuts a name at its first NUL ("evil.dcm\0.txt" reads as "evil.dcm"); the original has it.
    rel = _check_entry_name(archive, info.orig_filename)
    if _is_symlink(info):
        raise IngestError(
            "archive_unsafe_path",
            f"Archive {archive.name} contains a symbolic link ({info.filename!r}); links are "
            "refused. Zip the files themselves.",
        )
    if info.flag_bits & 0x1:
        raise IngestError(
            "archive_encrypted",
            f"Archive {archive.name} is password-protected ({_shown(info.filename)!r}). Upload it without a password.",
        )
    if info.compress_type not in _SUPPORTED_COMPRESSION:
        raise IngestError(
            "archive_unsupported_compression",
            f"Archive {archive.name} compresses {_shown(info.filename)!r} with method {info.compress_type}, which "
            "cannot be unpacked here. Re-create the zip with the standard (deflate) compression.",
        )
    return rel


def _check_budget(
    archive: Path, planned: list[tuple[zipfile.ZipInfo, PurePosixPath]], budget: ExtractionBudget
) -> None:
    """Refuse on the declared counts and sizes, before a byte is written (the bytes are counted again)."""
    if budget.files_used + len(planned) > budget.max_files:
        raise IngestError(
            "too_many_files",
            f"Archive {archive.name} holds {len(planned):,} files; the limit for one upload is "
            f"{budget.max_files:,}. Split it into smaller uploads.",
        )
    declared = sum(info.file_size for info, _ in planned)
    if budget.bytes_used + declared > budget.max_bytes:
        raise IngestError(
            "archive_too_large",
            f"Archive {archive.name} would unpack to {declared / 1024**3:.2f} GiB; the limit for one "
            f"upload is {budget.max_bytes / 1024**3:.2f} GiB. Split it into smaller uploads.",
        )


def _extract_entry(
    zf: zipfile.ZipFile,
    archive: Path,
    info: zipfile.ZipInfo,
    rel: PurePosixPath,
    root: Path,
    budget: ExtractionBudget,
) -> Path:
    """Write one planned entry under ``root``, counting its actual bytes against the budget."""
    target = root.joinpath(*rel.parts)
    if not target.resolve().is_relative_to(root):  # belt and braces after the name check
        raise IngestError(
            "archive_unsafe_path",
            f"Archive {archive.name}: entry {info.filename!r} escapes its folder.",
        )
    budget.take_file(archive.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _copy_counted(zf, archive, info, target, budget)
    except IngestError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise IngestError(
            "archive_corrupt",
            f"Archive {archive.name} is damaged: entry {_shown(info.filename)!r} cannot be unpacked ({exc}; its "
            "contents do not match its declared size or checksum). Upload it again.",
        ) from exc
    return target


def _copy_counted(
    zf: zipfile.ZipFile, archive: Path, info: zipfile.ZipInfo, target: Path, budget: ExtractionBudget
) -> None:
    """Copy the entry chunk by chunk; more bytes than declared (or than the budget) is a zip bomb."""
    written = 0
    with zf.open(info) as src, open(target, "xb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            budget.bytes_used += len(chunk)
            if written > info.file_size or budget.bytes_used > budget.max_bytes:
                raise IngestError(
                    "archive_too_large",
                    f"Archive {archive.name} unpacks to more than it declares (entry "
                    f"{info.filename!r}); it looks like a zip bomb and was refused.",
                )
            dst.write(chunk)


def _walk_folder(folder: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.is_file():
                yield path


def _starts_like_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def gather_files(inputs: Iterable[Path], extract_dir: Path, budget: ExtractionBudget) -> GatheredFiles:
    """Expand ``inputs`` (files, folders, zip archives) into regular files.

    Zips, given directly or found in a folder, are extracted into numbered folders under
    ``extract_dir``; zips inside zips are not opened (they count as non-DICOM files).
    """
    result = GatheredFiles()
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise IngestError("input_missing", f"Input {path.name!r} does not exist.")
        candidates = _walk_folder(path) if path.is_dir() else iter([path])
        for candidate in candidates:
            if candidate.suffix.lower() == ".zip" or _starts_like_zip(candidate):
                dest = extract_dir / f"archive-{result.archives:03d}"
                result.archives += 1
                files, skipped = extract_zip(candidate, dest, budget)
                result.files.extend(files)
                result.skipped_entries += skipped
            else:
                budget.take_file(candidate.name)
                result.files.append(candidate)
    return result
