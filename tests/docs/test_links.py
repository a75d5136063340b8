"""The documents link to files that exist, and every setting the code reads is listed in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *ROOT.glob("docs/*.md"), *ROOT.glob("*/**/README.md")]
)
DOCUMENTS = [
    d
    for d in DOCUMENTS
    if not any(part.startswith(".") or part == "node_modules" for part in d.relative_to(ROOT).parts)
]
LINK = re.compile(r"\[[^\]]+\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    missing = [
        target
        for target in LINK.findall(document.read_text())
        if "://" not in target and not (document.parent / target).exists()
    ]
    assert not missing, f"{document.relative_to(ROOT)} links to missing files: {missing}"


def test_every_environment_variable_is_in_env_example() -> None:
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    read: set[str] = set()
    for module in (ROOT / "config" / "settings").glob("*.py"):
        read.update(re.findall(r"env(?:\.[a-z_]+)?\(\s*\"([A-Z][A-Z0-9_]+)\"", module.read_text()))
    assert read, "no env(...) reads found: the pattern no longer matches the settings modules"
    assert not sorted(read - listed), f".env.example does not list {sorted(read - listed)}"
