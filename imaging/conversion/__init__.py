"""The DICOM -> VTK conversion library: plain Python over numpy, pydicom, highdicom and vtk.

It imports no Django and nothing of the project outside this package (an import-linter contract in
`pyproject.toml` holds that), so it can be tested and benchmarked alone. The one entry point is
`convert` (see `README.md` beside this file for its stages, refusal codes and modules).
"""

from .errors import IngestError
from .pipeline import ConversionResult, Limits, StructureOutput, convert

__all__ = ["ConversionResult", "IngestError", "Limits", "StructureOutput", "convert"]
