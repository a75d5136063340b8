"""The last check before a bundle leaves the platform: none of its text names the case's patient.

Curators mark documents de-identified and write titles; a slip still happens (a surname in a title, an
MRN in a letter). Every string of the manifest, every path and the text of every document is searched
for the patient's MRN, first and last name (whole words, any case) and date of birth (ISO and the usual
day/month orders). A document that matches is withheld; a manifest field that matches stops the whole
bundle. Messages say what matched (e.g. "the last name"), never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cases.models import Patient


@dataclass(frozen=True)
class IdentifierCheck:
    patterns: tuple[tuple[str, re.Pattern[str]], ...]  # (what it is, pattern)

    def found(self, text: str) -> list[str]:
        """What identifiers `text` contains, by kind ("the MRN", "the last name"...)."""
        return [kind for kind, pattern in self.patterns if pattern.search(text)]


def _word(value: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", re.IGNORECASE)


def identifier_check(patient: Patient) -> IdentifierCheck:
    patterns: list[tuple[str, re.Pattern[str]]] = []
    if patient.mrn.strip():
        patterns.append(("the MRN", _word(patient.mrn.strip())))
    for kind, name in (("the first name", patient.first_name), ("the last name", patient.last_name)):
        if len(name.strip()) >= 2:
            patterns.append((kind, _word(name.strip())))
    born = patient.date_of_birth
    if born is not None:
        d, m, y = born.day, born.month, born.year
        spellings = {
            f"{y:04d}-{m:02d}-{d:02d}",
            f"{d:02d}/{m:02d}/{y:04d}",
            f"{m:02d}/{d:02d}/{y:04d}",
            f"{d}/{m}/{y}",
            f"{m}/{d}/{y}",
            f"{d:02d}.{m:02d}.{y:04d}",
            f"{d:02d}-{m:02d}-{y:04d}",
            born.strftime("%d %B %Y"),
            f"{d} {born.strftime('%B %Y')}",
            born.strftime("%B %d, %Y"),
            born.strftime("%d %b %Y"),
        }
        patterns.append(("the date of birth", re.compile("|".join(re.escape(s) for s in spellings), re.IGNORECASE)))
    return IdentifierCheck(patterns=tuple(patterns))


def strings_of(value: Any) -> Iterable[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_of(item)
