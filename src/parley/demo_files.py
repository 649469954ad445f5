"""The demo's documents: a map annexed to the agreement and a list delivered with the memorandum (PDFs drawn
with fpdf2, so the demo needs no file of its own)."""

from __future__ import annotations

import itertools
from pathlib import Path

from fpdf import FPDF

from parley.client.pdf import unicode_font


def map_pdf(path: Path) -> Path:
    """Annex 1: a schematic map of the line of contact and the buffer zone (vector lines, a legend, a text layer)."""
    pdf = FPDF(orientation="landscape", format="A4")
    family = unicode_font(pdf)
    pdf.add_page()
    pdf.set_font(family, "B", 16)
    pdf.cell(0, 10, "Annex 1. Line of contact and buffer zone (schematic)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(120, 120, 120)
    pdf.rect(20, 30, 257, 150)
    line = [(30, 60), (80, 75), (120, 70), (160, 110), (210, 120), (265, 160)]
    for width, colour in ((6, (255, 220, 150)), (0.8, (200, 0, 0))):
        pdf.set_line_width(width)
        pdf.set_draw_color(*colour)
        for (x1, y1), (x2, y2) in itertools.pairwise(line):
            pdf.line(x1, y1, x2, y2)
    pdf.set_font(family, "", 10)
    pdf.set_text_color(0, 0, 0)
    for x, y, name in ((40, 50, "Kharkiv"), (150, 95, "Zaporizhzhia"), (230, 110, "Kherson")):
        pdf.text(x, y, name)
    pdf.set_xy(20, 185)
    pdf.multi_cell(0, 5, "Red: the line of contact on the date of signature. Orange: the buffer zone of 15 km on "
                         "each side, from which heavy weapons are withdrawn within ten days (Article 1).")
    pdf.output(str(path))
    return path


def prisoner_list_pdf(path: Path) -> Path:
    """The memorandum's annex: the list of prisoners of war proposed for the first exchange."""
    pdf = FPDF(format="A4")
    family = unicode_font(pdf)
    pdf.add_page()
    pdf.set_font(family, "B", 14)
    pdf.cell(0, 10, "Annex to the memorandum of Ukraine: prisoners for the first exchange", new_x="LMARGIN",
             new_y="NEXT")
    pdf.set_font(family, "", 11)
    for number in range(1, 21):
        pdf.cell(0, 7, f"{number}. Prisoner of war, file UA-2025-{number:04d}, held since March 2025",
                 new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path
