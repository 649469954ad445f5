"""Leaks of a recipient's PDF: its text layer, a screenshot of one page, a printed and scanned page (OCR)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from parley.client.pdf import memorandum_pdf
from parley.client.tracing import split_copy, traced_document
from parley.errors import InputError
from parley.tracing import TracingSecret, make_copies, trace
from parley.tracing.extract import leaked_text, render_pdf_page
from parley.tracing.sample import english_memo_with_alternatives

N = 50
RECIPIENTS = [f"recipient-{i:02d}" for i in range(N)]
POSITIONS = {
    "a": english_memo_with_alternatives(2600, seed=21, share=0.8).replace("\n\n", " "),
    "b": english_memo_with_alternatives(2600, seed=22, share=0.8).replace("\n\n", " "),
}
ORDER = tuple(sorted(POSITIONS))
DOC = traced_document(ORDER, POSITIONS)
SECRET = TracingSecret.from_seed(hashlib.sha256(b"ocr").digest(), N)
LEAKER = "recipient-31"


@pytest.fixture(scope="module")
def leaker_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = split_copy(make_copies(DOC, RECIPIENTS, SECRET)[LEAKER], ORDER)
    path = tmp_path_factory.mktemp("leak") / "copy.pdf"
    memorandum_pdf(path, title="Positions", sections=[(k, copy[k]) for k in ORDER], sender="Northwind Ltd",
                   delivered_at="2026-12-07 10:00 UTC", copy_line="Copy for A, B, 2026-12-07 10:00 UTC, copy no. 32")
    return path


def _accused(text: str) -> list[str]:
    return [a.recipient for a in trace(text, DOC, RECIPIENTS, SECRET).accused]


def test_text_layer_of_the_recipients_pdf_is_traced(leaker_pdf: Path) -> None:
    assert _accused(leaked_text(leaker_pdf)) == [LEAKER]


def test_screenshot_of_one_pdf_page_without_its_copy_line_is_traced(leaker_pdf: Path, tmp_path: Path) -> None:
    page = render_pdf_page(leaker_pdf, 0, dpi=150)
    width, height = page.size
    shot = tmp_path / "shot.png"
    page.crop((0, int(height * 0.09), width, int(height * 0.93))).save(shot)  # copy line cut off
    text = leaked_text(shot)
    assert "Copy for" not in text
    assert _accused(text) == [LEAKER]


def test_printed_and_scanned_page_is_traced(leaker_pdf: Path, tmp_path: Path) -> None:
    # grey, slightly rotated and blurred, JPEG-compressed, wrapped in a PDF with no text layer
    page = render_pdf_page(leaker_pdf, 0, dpi=150).convert("L")
    page = page.rotate(0.6, expand=True, fillcolor=255).filter(ImageFilter.GaussianBlur(0.5))
    buffer = io.BytesIO()
    page.save(buffer, "JPEG", quality=55)
    scan = tmp_path / "scan.pdf"
    Image.open(buffer).save(scan, "PDF", resolution=150)
    assert _accused(leaked_text(scan)) == [LEAKER]


def test_unreadable_leak_files_get_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match="UTF-8"):
        leaked_text(bad)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nnot really")
    with pytest.raises(InputError):
        leaked_text(broken)
