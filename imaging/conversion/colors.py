"""Default display colours for segmented structures, chosen by anatomical name.

Curators name labels freely ("Liver", "tumor_1", "PV", "Hepatic veins (MHV)"), so names are normalised
and matched against keyword patterns in a fixed order: specific names (portal vein, hepatic artery)
before generic ones (vein, artery). The colours follow the conventions of surgical planning tools
(liver brown-red, portal vein blue-violet, hepatic veins blue, arteries red, bile ducts green,
tumours yellow) so the 3-D view reads the way surgeons expect. Unknown names get a colour from a
fixed palette chosen by label value, so the same label keeps its colour across cases.
"""

from __future__ import annotations

import re

# (pattern over the normalised name, colour). First match wins: order matters.
_RULES: tuple[tuple[str, str], ...] = (
    (
        r"\b(tumou?rs?|lesions?|metastas[ie]s|mets?|masse?s?|hcc|nodules?|neoplasms?|cancer|carcinoma|cyst)\b|"
        r"^(tumou?r|lesion)",
        "#f2d13a",
    ),
    (r"\bportal\b|\bpv\b|\bsmv\b|mesenteric vein|splenic vein", "#6a5acd"),
    (r"\bhepatic veins?\b|\b[rml]?hvs?\b", "#3c7dd9"),
    (r"\b(ivc|inferior vena cava|vena cava)\b", "#2b4f9e"),
    (r"\b(hepatic arter(y|ies)|ha|cha|pha|arter(y|ies)|celiac|coeliac|sma)\b", "#d7263d"),
    (r"\baorta\b", "#b5121b"),
    (r"\b(bile ducts?|biliary|cbd|chd|ducts?|cholangio)\b", "#3fae49"),
    (r"\bgall ?bladder\b|\bgb\b", "#7fc97f"),
    (r"\bpancrea(s|tic)\b", "#f4a582"),
    (r"\bduoden(um|al)\b", "#e7a1b0"),
    (r"\bstomach\b", "#d9a5b3"),
    (r"\bspleen\b|\bsplenic\b", "#8c2d5e"),
    (r"\bkidneys?\b|\brenal\b", "#c45c3b"),
    (r"\badrenal\b", "#e6b95c"),
    (r"\bliver\b|\bhepatic\b|\bsegment\b|\bparenchyma\b|\bremnant\b|\bflr\b", "#b5654a"),
    (r"\bveins?\b", "#3c7dd9"),
    (r"\bbones?\b|\bspine\b|\bvertebra", "#e8e2d0"),
)
_COMPILED = tuple((re.compile(p), c) for p, c in _RULES)

# Distinct, colour-blind-aware fallback palette (Okabe-Ito plus a few).
FALLBACK_PALETTE: tuple[str, ...] = (
    "#e69f00",
    "#56b4e9",
    "#009e73",
    "#f0e442",
    "#0072b2",
    "#d55e00",
    "#cc79a7",
    "#999999",
    "#88ccee",
    "#44aa99",
    "#117733",
    "#ddcc77",
    "#aa4499",
    "#882255",
)


def normalise(name: str) -> str:
    """Lower case, separators to spaces, British/American spellings left alone (rules match both)."""
    text = re.sub(r"[_\-./]+", " ", name.lower())
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def color_for(name: str, label: int = 0) -> str:
    """``#rrggbb`` for a structure name; the fallback palette is indexed by label value."""
    text = normalise(name)
    for pattern, color in _COMPILED:
        if pattern.search(text):
            return color
    return FALLBACK_PALETTE[(max(label, 1) - 1) % len(FALLBACK_PALETTE)]
