"""The hostile-input corpus through the library: each case refused with its code, nothing left behind.

Wall-clock times are printed (``-s``), never asserted: ``benchmarks/dicom_tolerance.py --hostile``
reports them. What is asserted is the code, that the message is a sentence, and that no output is
left half-written.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from imaging.conversion.errors import IngestError
from imaging.conversion.pipeline import Limits, convert
from tests.imaging.hostile import CASES, Case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_refused_with_its_code(case: Case, tmp_path: Path) -> None:
    (tmp_path / "upload").mkdir()
    upload = case.build(tmp_path / "upload")
    limits = replace(Limits(), **upload.limits)
    work = tmp_path / "work"
    started = time.perf_counter()
    with pytest.raises(IngestError) as err:
        convert(inputs=upload.inputs, work_dir=work, segmentation=upload.segmentation, limits=limits)
    print(f"{case.name}: {err.value.code} in {time.perf_counter() - started:.3f} s")
    assert err.value.code == case.code, err.value.message
    assert len(err.value.message) > 30 and err.value.message.isprintable()
    assert not (work / "output").exists()
    assert not (work / "extracted").exists()
