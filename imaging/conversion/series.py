"""What the header scan learns: image series (by UID, or formed from geometry) and what was set aside."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .headers import FrameHeader


@dataclass
class SeriesInfo:
    uid: str
    sop_class_uid: str
    modality: str
    study_uid: str | None
    frame_of_reference_uid: str | None
    frames: list[FrameHeader] = field(default_factory=list)
    files: int = 0
    acquired_at: datetime | None = None
    slice_thickness: float | None = None
    # Formed without a SeriesInstanceUID: the attributes that grouped the files (``grouping``).
    formed_by: tuple[str, ...] = ()
    generated_study_uid: bool = False
    # What the files of this series lacked or did oddly, by kind (see ``grouping.QUIRK_MESSAGES``): files.
    quirks: Counter[str] = field(default_factory=Counter)
    # What identifies each file (SOPInstanceUID, else its position and numbers): the generated UIDs' input.
    identities: list[str] = field(default_factory=list)
    # Set by ``grouping.describe`` and ``stacks.separate``: sentences for the curator.
    warnings: list[str] = field(default_factory=list)

    @property
    def generated_uid(self) -> bool:
        return bool(self.formed_by)


@dataclass
class ScanResult:
    series: dict[str, SeriesInfo] = field(default_factory=dict)
    # What was found and set aside, by kind, e.g. {"non-DICOM file": 3, "DICOMDIR": 1}.
    others: Counter[str] = field(default_factory=Counter)
    # Image series that are not usable CT volumes (MR, localizers, ...): uid -> (kind, count).
    other_series: dict[str, tuple[str, int]] = field(default_factory=dict)
    segmentations: list[Path] = field(default_factory=list)
    damaged: list[tuple[Path, str]] = field(default_factory=list)
    # Files whose declared sizes or values cannot be trusted (``declared``): (path, code, reason).
    refused: list[tuple[Path, str, str]] = field(default_factory=list)
    # Localizer images set aside, by the SeriesInstanceUID they share with a CT series.
    localizers: Counter[str] = field(default_factory=Counter)
