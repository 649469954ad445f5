"""PDF renderings of the agreement and of memoranda (fpdf2).

fpdf2 is pure Python (no system libraries, no headless browser), maintained,
and embeds TrueType fonts, so Cyrillic and Turkish names render. DejaVu Sans
is used when installed (Debian ``fonts-dejavu-core``); otherwise the core
Helvetica font with non-Latin-1 characters replaced, and the PDF says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF

from parley.errors import InputError

_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


def unicode_font(pdf: FPDF) -> str:
    """Register DejaVu Sans (regular and bold) as "body" when installed; the family name to use."""
    for folder in _FONT_DIRS:
        if (folder / "DejaVuSans.ttf").exists():
            pdf.add_font("body", "", str(folder / "DejaVuSans.ttf"))
            pdf.add_font("body", "B", str(folder / "DejaVuSans-Bold.ttf"))
            return "body"
    return "helvetica"


class _Document(FPDF):
    def __init__(self, banner: str, copy_line: str | None) -> None:
        super().__init__(format="A4")
        self.banner = banner
        self.copy_line = copy_line
        self.family = unicode_font(self)
        self.unicode_font = self.family == "body"
        self.set_auto_page_break(True, margin=18)
        self.set_margins(20, 20, 20)

    def text_safe(self, text: str) -> str:
        return text if self.unicode_font else text.encode("latin-1", "replace").decode("latin-1")

    def header(self) -> None:
        self.set_font(self.family, "B", 8)
        self.set_text_color(150, 0, 0)
        self.cell(0, 5, self.text_safe(self.banner), align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.family, "", 7)
        line = (self.copy_line + " · " if self.copy_line else "") + f"page {self.page_no()}"
        self.cell(0, 5, self.text_safe(line), align="C")

    def heading(self, text: str, size: int = 15) -> None:
        self.set_font(self.family, "B", size)
        self.multi_cell(0, 8, self.text_safe(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def paragraph(self, text: str, size: int = 10.5, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)
        self.multi_cell(0, 5.5, self.text_safe(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(1.5)


def agreement_pdf(path: Path, *, title: str, articles: Sequence[dict], text_sha256: str,
                  signers: Sequence[dict], copy_line: str | None) -> None:
    """Render a signed agreement with its signature block (party, signer, fingerprints).

    Raises:
        InputError: no signers (a sealed agreement has no PDF).
    """
    if not signers:
        raise InputError("a sealed agreement has no PDF")
    doc = _Document("CONFIDENTIAL until released by every party", copy_line)
    doc.add_page()
    doc.heading(title)
    for article in articles:
        doc.paragraph(f"Article {article['number']}. {article['heading']}", bold=True)
        doc.paragraph(article["text"])
    doc.ln(4)
    doc.heading("Signatures", 12)
    doc.paragraph(f"SHA-256 of the canonical text: {text_sha256}", size=8.5)
    for signer in signers:
        doc.paragraph(f"{signer['party']}: signed by {signer['member']} on {signer['at']}", bold=True, size=9.5)
        doc.paragraph(f"party root fingerprint {signer['party_fingerprint']}; signing key fingerprint "
                      f"{signer['key_fingerprint']}", size=8.5)
    doc.output(str(path))


def memorandum_pdf(path: Path, *, title: str, sections: Sequence[tuple[str, str]], sender: str,
                   delivered_at: str, copy_line: str | None) -> None:
    doc = _Document("CONFIDENTIAL — " + (copy_line or "copy"), copy_line)
    doc.add_page()
    doc.heading(title)
    doc.paragraph(f"From {sender}, delivered {delivered_at}", size=9)
    for heading, text in sections:
        doc.paragraph(heading, bold=True)
        doc.paragraph(text)
    doc.output(str(path))
