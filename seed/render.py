"""Turn a document plan into file bytes: plain text, CSV, or a PDF drawn with fpdf2.

The bytes depend only on the plan (the PDF's creation date is the document's date, and fpdf2
derives the file ID from the content and that date), so re-seeding writes identical files.
"""

from __future__ import annotations

from fpdf import FPDF

from seed.plan import DocumentPlan
from seed.scenarios import FICTION_NOTICE

BANNER = "SYNTHETIC DOCUMENT - fictional patient and clinicians, for demonstration only."


def render_document(plan: DocumentPlan) -> bytes:
    if plan.fmt == "pdf":
        return _pdf(plan)
    if plan.fmt == "csv":
        return (plan.sections[0][1] + "\n").encode("utf-8")
    return _text(plan).encode("utf-8")


def _text(plan: DocumentPlan) -> str:
    lines = [BANNER, "", plan.heading, "=" * len(plan.heading), f"Date: {plan.created_at:%Y-%m-%d}", ""]
    for title, body in plan.sections:
        lines += [f"{title.upper()}", body, ""]
    lines.append(FICTION_NOTICE)
    return "\n".join(lines) + "\n"


def _pdf(plan: DocumentPlan) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(plan.created_at)
    pdf.set_title(plan.title)
    pdf.set_author("seed_hpb (synthetic)")
    pdf.set_subject(BANNER)
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_text_color(160, 0, 0)
    pdf.multi_cell(0, 5, _latin1(BANNER), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 7, _latin1(plan.heading), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 6, f"Date: {plan.created_at:%Y-%m-%d}", new_x="LMARGIN", new_y="NEXT")
    for title, body in plan.sections:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 11)
        pdf.multi_cell(0, 6, _latin1(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 5, _latin1(body), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(0, 4, _latin1(FICTION_NOTICE), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _latin1(text: str) -> str:
    """The standard PDF fonts cover Latin-1 only; the templates are ASCII, this guards the rest."""
    return text.encode("latin-1", "replace").decode("latin-1")
