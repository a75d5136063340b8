"""Read-only admin columns of a segmented structure, shared by every admin that lists structures.

A structure appears on its own admin page, inline on its imaging study, and inline on its case;
the three show its colour, size and mesh the same way.
"""

from __future__ import annotations

from django.contrib import admin

from hpb.admin_utils import color_swatch, format_number, signed_link
from imaging.models import CaseStructure


class StructureDisplayMixin:
    @admin.display(description="Colour")
    def swatch(self, structure: CaseStructure) -> str:
        return color_swatch(structure.color_hex)

    @admin.display(description="Volume (ml)")
    def volume_ml(self, structure: CaseStructure) -> str:
        return format_number((structure.metadata or {}).get("volume_ml"))

    @admin.display(description="Points / cells")
    def mesh_size(self, structure: CaseStructure) -> str:
        meta = structure.metadata or {}
        return f"{format_number(meta.get('point_count'))} / {format_number(meta.get('cell_count'))}"

    @admin.display(description="Mesh")
    def mesh(self, structure: CaseStructure) -> str:
        return signed_link(structure.mesh_uri, label="Download .vtp")
