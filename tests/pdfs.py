"""Real PDF bytes for tests, drawn with fpdf2 (the same library the seed uses)."""

from fpdf import FPDF


def make_pdf(*paragraphs: str, pages: int = 1) -> bytes:
    pdf = FPDF()
    for page in range(pages):
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(
                0, 6, paragraph if pages == 1 else f"{paragraph} (page {page + 1})", new_x="LMARGIN", new_y="NEXT"
            )
    return bytes(pdf.output())


def make_blank_pdf() -> bytes:
    """A valid PDF with no text layer, like a scan."""
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 50, 50)
    return bytes(pdf.output())
