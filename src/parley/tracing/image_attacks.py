"""What leakers do to a page image, for the tests and the benchmark (not used by tracing itself).

Each attack takes and returns a PIL image and is deterministic for a given ``seed``.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageFilter


def crop_copy_line(page: Image.Image, share: float = 0.06) -> Image.Image:
    """The page without its top and bottom ``share`` (where the visible copy line is printed)."""
    w, h = page.size
    return page.crop((0, round(h * share), w, round(h * (1 - share))))


def screenshot(page: Image.Image, scale: float = 0.8, seed: int = 0) -> Image.Image:
    """A screenshot of the page in a viewer: rescaled, the copy lines cut off, a grey window frame around
    it, saved as PNG."""
    rng = random.Random(seed)  # noqa: S311 - simulation
    shown = crop_copy_line(page).convert("RGB")
    shown = shown.resize((round(shown.width * scale), round(shown.height * scale)), Image.Resampling.BILINEAR)
    frame = Image.new("RGB", (shown.width + 80 + rng.randrange(20), shown.height + 60), (64, 64, 70))
    frame.paste(shown, (40 + rng.randrange(10), 50))
    out = io.BytesIO()
    frame.save(out, "PNG")
    return Image.open(io.BytesIO(out.getvalue()))


def print_and_scan(page: Image.Image, *, angle: float = 1.0, blur: float = 1.0, noise: float = 4.0,
                   quality: int = 75, scale: float = 0.85, seed: int = 0) -> Image.Image:
    """A printed and scanned page: rotated by ``angle`` degrees, blurred (Gaussian radius ``blur`` px),
    greyed and noisy (Gaussian, ``noise`` grey levels), rescaled by ``scale`` and saved as JPEG."""
    import numpy as np

    gray = page.convert("L").rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=250)
    gray = gray.filter(ImageFilter.GaussianBlur(blur))
    pixels = np.asarray(gray, dtype=np.float32) * 0.92 + 10  # toner is not black, paper not white
    pixels += np.random.default_rng(seed).normal(0.0, noise, pixels.shape)
    gray = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
    gray = gray.resize((round(gray.width * scale), round(gray.height * scale)), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    gray.save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue()))


def halftone(page: Image.Image) -> Image.Image:
    """The page as a printer lays toner: every pixel black or white by an 8 x 8 ordered (Bayer) dither, so a
    light grey becomes sparse dots. Render the page at the printer's resolution (600 dpi) first."""
    import numpy as np

    bayer = np.array([[0, 32, 8, 40, 2, 34, 10, 42], [48, 16, 56, 24, 50, 18, 58, 26],
                      [12, 44, 4, 36, 14, 46, 6, 38], [60, 28, 52, 20, 62, 30, 54, 22],
                      [3, 35, 11, 43, 1, 33, 9, 41], [51, 19, 59, 27, 49, 17, 57, 25],
                      [15, 47, 7, 39, 13, 45, 5, 37], [63, 31, 55, 23, 61, 29, 53, 21]]) / 64 + 1 / 128
    gray = np.asarray(page.convert("L"), dtype=np.float32) / 255
    h, w = gray.shape
    threshold = np.tile(bayer, (h // 8 + 1, w // 8 + 1))[:h, :w]
    return Image.fromarray(((gray > threshold) * 255).astype(np.uint8), "L")


def photo_of_screen(page: Image.Image, *, tilt: float = 0.04, seed: int = 0) -> Image.Image:
    """A phone photo of the page on a screen: seen off-axis (the top edge narrower by ``tilt`` of the width
    on each side), unevenly lit, blurred, noisy, brought down to 80 % and saved as JPEG."""
    import numpy as np

    w, h = page.size
    d = tilt * w
    coeffs = _perspective([(0, 0), (w, 0), (w, h), (0, h)], [(d, 0), (w - d, 0), (w, h), (0, h)])
    gray = page.convert("L").transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC,
                                       fillcolor=40)
    gray = gray.filter(ImageFilter.GaussianBlur(0.8))
    ys, xs = np.mgrid[0:h, 0:w]
    light = 0.8 + 0.2 * (xs / w) * (1 - 0.5 * ys / h)  # brighter towards one side, as a window lights it
    pixels = np.asarray(gray, dtype=np.float32) * light + np.random.default_rng(seed).normal(0.0, 3.0, (h, w))
    gray = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
    gray = gray.resize((round(w * 0.8), round(h * 0.8)), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    gray.save(out, "JPEG", quality=80)
    return Image.open(io.BytesIO(out.getvalue()))


def _perspective(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    """PIL's perspective coefficients mapping the output corners ``dst`` to the input corners ``src``."""
    import numpy as np

    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solution = np.linalg.solve(np.array(rows, dtype=float), np.array([c for p in src for c in p], dtype=float))
    return [float(c) for c in solution]


def whiten(page: Image.Image, level: int = 200) -> Image.Image:
    """Every pixel lighter than ``level`` made white: a curves adjustment that clears a light texture."""
    return page.convert("L").point(lambda v: 255 if v >= level else v)


def binarise(page: Image.Image, level: int = 160) -> Image.Image:
    """Every pixel made pure black or white."""
    return page.convert("L").point(lambda v: 255 if v >= level else 0)
