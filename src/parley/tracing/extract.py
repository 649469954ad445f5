"""The text of a leaked file: UTF-8 text, a PDF (its text layer, or OCR of its pages) or an image (OCR);
and its pages as images, where the image marks of PDF annexes are read (``leaked_images``).

PDF text comes from pypdf; a page without a text layer (a scan, a print-out photographed) is
rendered by pypdfium2 and read by Tesseract, as images are.  Tesseract is the Debian package
``tesseract-ocr`` (with ``tesseract-ocr-eng``), run as a subprocess.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from parley.errors import InputError

_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM",
)  # fmt: skip
#: pages with fewer characters in their text layer than this are read by OCR
_MIN_TEXT_LAYER = 40
OCR_DPI = 200
#: pages of a leaked PDF rendered to look for image marks, and at what resolution (a mark cell is 2.5 pt:
#: 3.5 px at 100 dpi)
MARK_PAGES = 5
MARK_DPI = 100


def ocr_image(path: Path, language: str = "eng") -> str:
    """The text Tesseract reads in an image file.

    Raises InputError if Tesseract is not installed, fails on the file, or takes over 5 minutes.
    """
    exe = shutil.which("tesseract")
    if exe is None:
        raise InputError(
            "reading an image needs Tesseract OCR", hint="install the Debian packages tesseract-ocr tesseract-ocr-eng"
        )
    try:
        done = subprocess.run(  # noqa: S603 - fixed executable, file path argument
            [exe, str(path), "-", "-l", language, "--psm", "3"], capture_output=True, timeout=300, check=False
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"OCR of {path.name} took over 5 minutes") from None
    if done.returncode != 0:
        raise InputError(f"OCR of {path.name} failed: {done.stderr.decode('utf-8', 'replace').strip()[:300]}")
    return done.stdout.decode("utf-8", "replace")


def render_pdf_page(path: Path, page: int, dpi: int = OCR_DPI):  # noqa: ANN201 - a PIL image
    """Page ``page`` (from 0) of a PDF as a PIL image (pypdfium2).

    Raises InputError if the PDF cannot be opened or has no such page.
    """
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError as exc:
        raise InputError(f"cannot open {path.name} as PDF: {exc}") from None
    try:
        if not 0 <= page < len(pdf):
            raise InputError(f"{path.name} has no page {page + 1}")
        return pdf[page].render(scale=dpi / 72).to_pil()
    finally:
        pdf.close()


def pdf_text(path: Path, language: str = "eng") -> str:
    """The text of every page of a PDF: its text layer, or OCR where a page has none.

    Raises InputError if the file is not a readable PDF (or OCR fails on a page).
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        layers = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, OSError, ValueError) as exc:
        raise InputError(f"cannot read {path.name} as PDF: {exc}") from None
    texts = []
    for number, layer in enumerate(layers):
        if len(layer.strip()) >= _MIN_TEXT_LAYER:
            texts.append(layer)
            continue
        with tempfile.TemporaryDirectory() as folder:
            image = Path(folder) / "page.png"
            render_pdf_page(path, number).save(image)
            texts.append(ocr_image(image, language))
    return "\n".join(texts)


def _kind(path: Path) -> str:
    """``pdf``, ``image`` or ``text``, by the file's first bytes.

    Raises InputError if the file cannot be read.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    return "text"


def leaked_images(path: Path, max_pages: int = MARK_PAGES, dpi: int = MARK_DPI) -> list:
    """A leaked image file as one image, a PDF as its first ``max_pages`` pages rendered at ``dpi``, a text
    file as none (PIL images).

    Raises InputError if the file cannot be read, or is an image or PDF that cannot be opened.
    """
    kind = _kind(path)
    if kind == "text":
        return []
    if kind == "image":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                image.load()
                return [image.copy()]
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise InputError(f"cannot open {path.name} as an image: {exc}") from None
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError as exc:
        raise InputError(f"cannot open {path.name} as PDF: {exc}") from None
    try:
        return [pdf[number].render(scale=dpi / 72).to_pil() for number in range(min(len(pdf), max_pages))]
    finally:
        pdf.close()


def leaked_text(path: Path, language: str = "eng") -> str:
    """The text of a leaked file, by its content: PDF, image (OCR) or UTF-8 text.

    Raises InputError if the file cannot be read, is not UTF-8 text, or OCR fails.
    """
    kind = _kind(path)
    if kind == "pdf":
        return pdf_text(path, language)
    if kind == "image":
        return ocr_image(path, language)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} as UTF-8 text, PDF or image: {exc}") from None
