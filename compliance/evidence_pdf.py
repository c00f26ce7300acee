"""The evidence of a number as a PDF (fpdf2): one section per attempt, every field of the record."""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from compliance.evidence import EXPORT_FIELDS, cell_text, evidence_for_number


def _latin1(text: str) -> str:
    # The PDF core fonts are Latin-1; anything else is shown as "?" rather than failing the export.
    return text.encode("latin-1", "replace").decode("latin-1")


def export_evidence_pdf(phone_e164: str, contact_id: int | None = None) -> bytes:
    """Every evidence record of ``phone_e164`` (and of one contact when given) as a PDF document."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, _latin1(f"Call evidence for {phone_e164}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    records = list(evidence_for_number(phone_e164, contact_id))
    if not records:
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 8, "No dial on record.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for record in records:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 8, f"Attempt {record.attempt_id}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for name in EXPORT_FIELDS:
            pdf.set_font("Helvetica", "B", 8)
            pdf.cell(38, 5, name)
            pdf.set_font("Helvetica", "", 8)
            pdf.multi_cell(0, 5, _latin1(cell_text(getattr(record, name)) or "-"), new_x=XPos.LMARGIN,
                           new_y=YPos.NEXT)
        pdf.ln(3)
    return bytes(pdf.output())
