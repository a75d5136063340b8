"""Default colours by anatomical name."""

from __future__ import annotations

import pytest

from imaging.conversion.colors import FALLBACK_PALETTE, color_for


@pytest.mark.parametrize(
    "names",
    [
        ("liver", "Liver", "LIVER_parenchyma", "future liver remnant"),
        ("tumour", "tumor", "Tumor 1", "lesion", "liver lesion", "metastasis", "HCC"),
        ("portal vein", "Portal_Vein", "PV", "right portal vein branch"),
        ("hepatic veins", "hepatic vein", "MHV", "Hepatic-Veins"),
        ("IVC", "inferior vena cava"),
        ("pancreas", "Pancreatic tail"),
        ("bile ducts", "CBD", "biliary tree", "bile duct"),
        ("gallbladder", "gall bladder"),
        ("spleen",),
        ("kidneys", "left kidney", "Kidney_R"),
        ("aorta",),
        ("hepatic artery", "HA", "celiac trunk"),
    ],
)
def test_synonyms_share_a_colour(names: tuple[str, ...]) -> None:
    colours = {color_for(n) for n in names}
    assert len(colours) == 1, {n: color_for(n) for n in names}
    assert colours.pop() not in FALLBACK_PALETTE


def test_structures_get_distinct_colours() -> None:
    names = [
        "liver",
        "tumour",
        "portal vein",
        "hepatic veins",
        "IVC",
        "pancreas",
        "bile ducts",
        "gallbladder",
        "spleen",
        "kidney",
        "aorta",
        "hepatic artery",
    ]
    assert len({color_for(n) for n in names}) == len(names)
    assert color_for("liver lesion") == color_for("tumour")  # the lesion, not the organ


def test_fallback_is_stable_per_label() -> None:
    assert color_for("mystery blob", 3) == FALLBACK_PALETTE[2]
    assert color_for("mystery blob", 3) == color_for("something else", 3)
    assert color_for("x", 1) != color_for("x", 2)
    assert all(c.startswith("#") and len(c) == 7 for c in FALLBACK_PALETTE)
