"""Typesetting a text or CSV document as a plain PDF, fast: the PDFs of a viewer bundle.

fpdf2 lays text out character by character in Python; a four-page report took 0.1-0.2 s, more than
copying the 78 MB volume of the same bundle, so publishing spent most of its time typesetting. A text
document needs far less: lines wrapped to the page with the standard fonts' widths (taken from fpdf2's
metric tables, the Adobe core-font AFMs), written as a PDF 1.4 with the 14 standard fonts (nothing
embedded), one compressed content stream per page. pdf.js (the viewer's PDF renderer) and pypdf read it.

The output depends only on the title and the text: no date, no producer version, no identifier.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from fpdf.fonts import CORE_FONTS_CHARWIDTHS

PAGE_WIDTH, PAGE_HEIGHT = 595.28, 841.89  # A4 in points
MARGIN = 50.0
_FONTS = {"F1": "Helvetica", "F2": "Helvetica-Bold", "F3": "Courier"}
_WIDTHS = {"F1": CORE_FONTS_CHARWIDTHS["helvetica"], "F2": CORE_FONTS_CHARWIDTHS["helveticaB"]}


@dataclass(frozen=True)
class _Style:
    font: str
    size: float
    leading: float


TITLE = _Style("F2", 14.0, 18.0)
PROSE = _Style("F1", 10.0, 13.0)
FIXED = _Style("F3", 8.0, 10.0)


def _width(text: str, style: _Style) -> float:
    if style.font == "F3":
        return 0.6 * style.size * len(text)  # Courier: every glyph 600/1000 em
    widths = _WIDTHS[style.font]
    return sum(widths.get(ch, 556) for ch in text) * style.size / 1000.0


def _cp1252(text: str) -> str:
    """What WinAnsiEncoding can show: other characters become '?', tabs four spaces."""
    return text.replace("\t", "    ").encode("cp1252", "replace").decode("cp1252")


def _wrap(line: str, style: _Style, width: float) -> list[str]:
    """Break one line into pieces that fit `width`: at spaces where it can, inside a word where it must."""
    if _width(line, style) <= width:
        return [line]
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if _width(candidate, style) <= width:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while _width(word, style) > width:  # a word longer than the line: cut it
            cut = len(word)
            while cut > 1 and _width(word[:cut], style) > width:
                cut -= 1
            pieces.append(word[:cut])
            word = word[cut:]
        current = word
    pieces.append(current)
    return pieces


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _pages(title: str, text: str, *, monospace: bool) -> list[list[tuple[_Style, str]]]:
    usable = PAGE_WIDTH - 2 * MARGIN
    body = FIXED if monospace else PROSE
    lines: list[tuple[_Style, str]] = [(TITLE, piece) for piece in _wrap(_cp1252(title), TITLE, usable)]
    lines.append((body, ""))
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").rstrip().split("\n"):
        lines += [(body, piece) for piece in _wrap(_cp1252(raw.rstrip()), body, usable)]
    pages: list[list[tuple[_Style, str]]] = [[]]
    used = 0.0
    for style, line in lines:
        if used + style.leading > PAGE_HEIGHT - 2 * MARGIN and pages[-1]:
            pages.append([])
            used = 0.0
        pages[-1].append((style, line))
        used += style.leading
    return pages


def _content(page: list[tuple[_Style, str]]) -> bytes:
    out = [b"BT"]
    y = PAGE_HEIGHT - MARGIN
    for style, line in page:
        y -= style.leading
        out.append(
            f"/{style.font} {style.size:g} Tf 1 0 0 1 {MARGIN:g} {y:.2f} Tm".encode() + b" (" + _escape(line) + b") Tj"
        )
    out.append(b"ET")
    return zlib.compress(b"\n".join(out), 6)


def text_pdf(*, title: str, text: str, monospace: bool = False) -> bytes:
    """`text` under `title` as a PDF (A4, standard fonts; CSV and code in Courier with `monospace`)."""
    pages = _pages(title, text, monospace=monospace)
    objects: list[bytes] = []  # object n is objects[n - 1]
    n_fonts = len(_FONTS)
    first_page = 3 + n_fonts
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    fonts = []
    for index, (name, base) in enumerate(_FONTS.items()):
        objects.append(f"<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>".encode())
        fonts.append(f"/{name} {3 + index} 0 R")
    resources = f"<< /Font << {' '.join(fonts)} >> >>"
    for index, page in enumerate(pages):
        stream = _content(page)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH:g} {PAGE_HEIGHT:g}] /Resources {resources} "
            f"/Contents {first_page + 2 * index + 1} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream + b"\nendstream")
    objects.append(b"<< /Producer (HPB case platform) >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
