"""A per-recipient mark in the pages of a PDF annex that survives screenshots, photos and print-and-scan.

Each recipient's copy of a PDF annex gets, over every page, a faint keyed texture: a square *tile* of
``CELLS`` x ``CELLS`` cells (``TILE_PT`` points wide) repeated edge to edge. A cell is either clear or
darkened by ``STRENGTH`` (the page shows through: ink stays ink, white paper turns a very light grey).
Which cells are darkened is the mark:

* a quarter of the cells, chosen by the key, form the *sync* pattern: the same keyed signs in every
  recipient's copy, so a reader holding the key finds the tile in a leaked image (and no one else can);
* the other cells are split by the key among ``BITS`` code positions of the recipient's Tardos codeword
  (``code.py``, the same code, scores and threshold as the wording marks), each cell carrying its bit
  times a keyed sign.

Reading a leaked image (``PageImage.read``, ``trace_pages``) needs no original: the tile repeats, so the autocorrelation of the
page's light areas peaks at the tile's two period vectors, whatever the scale, the rotation or the crop of
the image (M. Kutter, "Watermarking resisting to translation, rotation and scaling", SPIE 3528, 1998). The
pixels are then folded onto one tile, the keyed sync pattern fixes its offset and orientation, and each
code position is read as the sign of its cells' keyed correlation, or left unread when too weak. Only the
leak decides what is read, never a recipient's codeword, so an innocent's score keeps the law
``code.Scorer.log_mgf`` assumes and the threshold of ``reading_threshold`` bounds false accusations.

Limits (docs/tracing.md): the mark lives in the light areas of the page and in its grey level, so a
leaker who knows the scheme can remove it without the key by whitening the background or binarising
the image (turning every pixel pure black or white), or, holding the PDF, by deleting the overlay; a crop leaving less than about two tiles each way,
a photo taken at a steep angle (perspective) and a strongly non-uniform rescale defeat the period search.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parley.errors import InputError
from parley.tracing.code import DocumentCode, keyed_stream

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from parley.tracing.secret import TracingSecret
    from parley.tracing.trace import TraceReport

#: cells per tile side; tile side in PDF points (28 mm); a cell is then 2.5 pt, 2 px at 58 dpi
CELLS = 32
TILE_PT = 80.0
#: code positions a tile carries; cells per tile that form the sync pattern
BITS = 256
SYNC_CELLS = 256
#: how much a darkened cell takes off: the page times (1 - STRENGTH), 255 -> 245 on white paper
STRENGTH = 0.04
#: sub-samples per cell side when folding (offsets are found to a quarter cell)
_SUB = 4
#: the long side an image is brought down to before the period search (time and memory)
_WORK_PIXELS = 1400
#: autocorrelation peaks tried as the tile's period (text line spacing and tables make peaks too)
_CANDIDATES = 8
#: sync peak, in standard deviations of the correlation surface, above which a tile counts as found:
#: over the 8 orientations x 128^2 offsets tried, noise passes it with probability below 1e-9 per candidate
SYNC_MIN_Z = 8.0
#: a code position whose cells' correlation is below this many standard deviations of noise is not read
_READ_MIN_Z = 0.5
#: a whole image whose sync peak is at least this clear is not also read in parts
_CLEAR_SYNC_Z = 12.0
#: otherwise it is also read in k x k parts for each k here
_SPLITS = (2, 3)
_DOMAIN = b"parley-annex-image-mark/1"


def annex_code(secret: TracingSecret) -> DocumentCode:
    """The Tardos code the annex marks of one traced document carry (one for all its annexes).

    Raises InputError if ``secret`` is not a TracingSecret.
    """
    from parley.tracing.secret import TracingSecret

    if not isinstance(secret, TracingSecret):
        raise InputError("secret must be a TracingSecret")
    return DocumentCode(secret.key, secret.params, hashlib.sha256(_DOMAIN).digest())


@dataclass(frozen=True)
class TileLayout:
    """Which cell of the tile does what, derived from the key: sync sign, or (bit, sign)."""

    #: per cell (row-major): -1 for a sync cell, else the index of the bit it carries (0..BITS-1)
    role: tuple[int, ...]
    #: per cell: +1 or -1 (a sync cell's value, or the sign a data cell multiplies its bit by)
    sign: tuple[int, ...]
    #: code position of each bit
    positions: tuple[int, ...]

    @classmethod
    def of(cls, code: DocumentCode) -> TileLayout:
        n = CELLS * CELLS
        order = keyed_stream(code.key, b"image-cells", code.digest, 4 * n)
        cells = sorted(range(n), key=lambda i: order[4 * i : 4 * i + 4])
        role = [0] * n
        for rank, cell in enumerate(cells):
            role[cell] = -1 if rank < SYNC_CELLS else (rank - SYNC_CELLS) % BITS
        signs = keyed_stream(code.key, b"image-signs", code.digest, n)
        bits = min(BITS, code.params.length)
        return cls(tuple(role), tuple(1 if s & 1 else -1 for s in signs),
                   tuple(code.permutation[k % code.params.length] for k in range(bits)))

    def values(self, codeword: int) -> list[int]:
        """+1 (darkened) or -1 (clear) per cell for the recipient with this codeword."""
        out = []
        for role, sign in zip(self.role, self.sign, strict=True):
            if role < 0:
                out.append(sign)
            else:
                bit = (codeword >> self.positions[role % len(self.positions)]) & 1
                out.append(sign if bit else -sign)
        return out


def tile_image(code: DocumentCode, recipient: str) -> Image.Image:
    """The recipient's tile as a CELLS x CELLS black image whose alpha is STRENGTH on darkened cells."""
    from PIL import Image

    values = TileLayout.of(code).values(code.codeword(recipient))
    alpha = bytes(round(255 * STRENGTH) if v > 0 else 0 for v in values)
    image = Image.new("LA", (CELLS, CELLS), 0)
    image.putalpha(Image.frombytes("L", (CELLS, CELLS), alpha))
    return image


def mark_raster(page: Image.Image, code: DocumentCode, recipient: str, pixels_per_pt: float) -> Image.Image:
    """A rendered page with the recipient's tile multiplied in (what the PDF overlay shows, in pixels)."""
    import numpy as np

    values = np.array(TileLayout.of(code).values(code.codeword(recipient)), dtype=np.float32).reshape(CELLS, CELLS)
    gray = np.asarray(page.convert("L"), dtype=np.float32)
    h, w = gray.shape
    cell = TILE_PT / CELLS * pixels_per_pt
    rows = (np.floor((np.arange(h) + 0.5) / cell).astype(int)) % CELLS
    cols = (np.floor((np.arange(w) + 0.5) / cell).astype(int)) % CELLS
    factor = np.where(values[np.ix_(rows, cols)] > 0, 1 - STRENGTH, 1.0)
    from PIL import Image

    return Image.fromarray(np.clip(gray * factor + 0.5, 0, 255).astype(np.uint8), "L")


# ---- reading -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageReading:
    """What one image shows of the mark: the sync strength, and per bit a correlation and its noise."""

    sync_z: float
    found: bool
    #: per bit: summed keyed correlation (darker = positive), and its noise variance
    correlations: tuple[float, ...] = ()
    variances: tuple[float, ...] = ()
    period_px: float = 0.0
    #: the sync cells' mean darkening (the strength a cell of an untouched copy shows) and cells per bit
    amplitude: float = 0.0
    counts: tuple[int, ...] = ()
    #: amplitude^2 / noise variance of one folded cell: how clearly the fold shows the tile (adds up over
    #: regions read apart)
    clarity: float = 0.0


def _gray_array(image: Image.Image) -> np.ndarray:
    import numpy as np
    from PIL import Image

    gray = image.convert("L")
    long_side = max(gray.size)
    if long_side > _WORK_PIXELS:
        scale = _WORK_PIXELS / long_side
        gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))),
                           Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.float32)


def _residual(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The light areas' fine texture (ink and its edges masked out) and the mask of pixels kept."""
    import numpy as np

    paper = float(np.percentile(gray, 90))
    keep = gray > paper - 40
    # ink edges (anti-aliasing, blur) are darker than paper but not ink: drop a pixel around every dark one
    dark = ~keep
    grown = dark.copy()
    grown[1:, :] |= dark[:-1, :]
    grown[:-1, :] |= dark[1:, :]
    grown[:, 1:] |= dark[:, :-1]
    grown[:, :-1] |= dark[:, 1:]
    keep = ~grown
    filled = np.where(keep, gray, paper)
    local = _box_blur(filled, 9)
    residual = np.where(keep, filled - local, 0.0).astype(np.float32)
    return residual, keep


def _box_blur(a: np.ndarray, radius: int) -> np.ndarray:
    import numpy as np

    out = a
    for axis in (0, 1):
        c = np.cumsum(np.pad(out, [(radius + 1, radius) if i == axis else (0, 0) for i in range(2)], mode="edge"),
                      axis=axis, dtype=np.float64)
        n = out.shape[axis]
        hi = np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = (hi - lo) / (2 * radius + 1)
    return out


def _autocorrelation(residual: np.ndarray, keep: np.ndarray, max_lag: int) -> np.ndarray:
    """Normalised autocorrelation for lags in [-max_lag, max_lag]^2 (index [max_lag, max_lag] is lag 0)."""
    import numpy as np

    h, w = residual.shape
    shape = (h + max_lag + 1, w + max_lag + 1)
    f = np.fft.rfft2(residual, s=shape)
    a = np.fft.irfft2(f * np.conj(f), s=shape)
    m = np.fft.rfft2(keep.astype(np.float32), s=shape)
    counts = np.fft.irfft2(m * np.conj(m), s=shape)
    a = a / np.maximum(counts, 0.05 * keep.sum())
    a = np.fft.fftshift(a)
    cy, cx = shape[0] // 2, shape[1] // 2
    return a[cy - max_lag : cy + max_lag + 1, cx - max_lag : cx + max_lag + 1]


def _peaks(acf: np.ndarray, min_lag: float, count: int) -> list[tuple[float, float, float]]:
    """The strongest local maxima of the autocorrelation in one half-plane: (dy, dx, z)."""
    import numpy as np

    size = acf.shape[0]
    c = size // 2
    ys, xs = np.mgrid[-c : c + 1, -c : c + 1]
    ring = (np.hypot(ys, xs) >= min_lag) & ((ys > 0) | ((ys == 0) & (xs > 0)))
    values = acf[ring]
    med = float(np.median(values))
    spread = float(np.median(np.abs(values - med))) * 1.4826 or 1e-9
    z = np.where(ring, (acf - med) / spread, -np.inf)
    found = []
    for _ in range(count):
        idx = int(np.argmax(z))
        y, x = divmod(idx, size)
        if not math.isfinite(z[y, x]):
            break
        found.append((float(y - c), float(x - c), float(z[y, x])))
        z[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4] = -np.inf
        my, mx = 2 * c - y, 2 * c - x  # the mirrored lag is the same peak
        z[max(0, my - 3) : my + 4, max(0, mx - 3) : mx + 4] = -np.inf
    return found


def _refine(acf: np.ndarray, vector: tuple[float, float]) -> tuple[float, float]:
    """A period vector to a fraction of a pixel: least squares over its multiples' sub-pixel peaks."""
    import numpy as np

    size = acf.shape[0]
    c = size // 2
    num_y = num_x = den = 0.0
    for k in range(1, 8):
        py, px = round(c + k * vector[0]), round(c + k * vector[1])
        if not (2 <= py < size - 2 and 2 <= px < size - 2):
            break
        win = acf[py - 2 : py + 3, px - 2 : px + 3]
        oy, ox = np.unravel_index(int(np.argmax(win)), win.shape)
        py, px = py + oy - 2, px + ox - 2
        if not (1 <= py < size - 1 and 1 <= px < size - 1):
            break

        def vertex(a: float, b: float, cc: float) -> float:
            d = a - 2 * b + cc
            return 0.0 if d >= 0 else 0.5 * (a - cc) / d

        fy = py + vertex(acf[py - 1, px], acf[py, px], acf[py + 1, px]) - c
        fx = px + vertex(acf[py, px - 1], acf[py, px], acf[py, px + 1]) - c
        num_y += k * fy
        num_x += k * fx
        den += k * k
    return (num_y / den, num_x / den) if den else vector


def _fold(residual: np.ndarray, keep: np.ndarray, v1: tuple[float, float], v2: tuple[float, float]) -> np.ndarray:
    """Mean residual per sub-cell of one tile, pixels placed by their lattice coordinates along v1, v2."""
    import numpy as np

    ys, xs = np.nonzero(keep)
    basis = np.array([[v1[0], v2[0]], [v1[1], v2[1]]], dtype=np.float64)  # columns: (dy, dx) of v1, v2
    inv = np.linalg.inv(basis)
    u = inv[0, 0] * ys + inv[0, 1] * xs
    v = inv[1, 0] * ys + inv[1, 1] * xs
    n = CELLS * _SUB
    iu = np.floor((u - np.floor(u)) * n).astype(np.int64) % n
    iv = np.floor((v - np.floor(v)) * n).astype(np.int64) % n
    flat = iu * n + iv
    sums = np.bincount(flat, weights=residual[ys, xs], minlength=n * n)
    counts = np.bincount(flat, minlength=n * n)
    return (sums / np.maximum(counts, 1)).reshape(n, n)


def _orientations(folded: np.ndarray) -> list[np.ndarray]:
    import numpy as np

    out = []
    for base in (folded, folded.T):
        for k in range(4):
            out.append(np.rot90(base, k))
    return out


def _sync_template(layout: TileLayout) -> np.ndarray:
    import numpy as np

    cells = np.array([s if r < 0 else 0 for r, s in zip(layout.role, layout.sign, strict=True)],
                     dtype=np.float32).reshape(CELLS, CELLS)
    return np.kron(cells, np.ones((_SUB, _SUB), dtype=np.float32))


class _Region:
    """Part of a leaked image, prepared once for every key it is read with: its light areas' texture and the
    candidate tile lattices its autocorrelation shows (both independent of any key)."""

    def __init__(self, gray: np.ndarray) -> None:
        h, w = gray.shape
        #: candidate tile lattices (two period vectors each), strongest autocorrelation peak first
        self.lattices: list[tuple[tuple[float, float], tuple[float, float]]] = []
        self._folds: dict[int, np.ndarray] = {}
        if min(h, w) < 48:
            return
        residual, keep = _residual(gray)
        if keep.mean() < 0.05:
            return
        acf = _autocorrelation(residual, keep, int(min(h, w) * 0.45))
        for dy, dx, _z in _peaks(acf, min_lag=24, count=_CANDIDATES):
            v1 = _refine(acf, (dy, dx))
            v2 = _refine(acf, (v1[1], -v1[0]))  # the tile is square: the other period is v1 turned a quarter
            if abs(v1[0] * v2[1] - v1[1] * v2[0]) >= 1.0:
                self.lattices.append((v1, v2))
        self._residual, self._keep = residual, keep

    def fold(self, index: int) -> np.ndarray:
        """The texture folded onto one tile along lattice ``index`` (darker = positive), computed once."""
        if index not in self._folds:
            v1, v2 = self.lattices[index]
            self._folds[index] = -_fold(self._residual, self._keep, v1, v2)
        return self._folds[index]

    def read(self, layout: TileLayout) -> PageReading:
        """Find the tile with this key's sync pattern and read each bit's keyed correlation.

        The reading depends on the image and the key only, never on a recipient's codeword.
        """
        import numpy as np

        t_fft = np.conj(np.fft.rfft2(_sync_template(layout)))
        best: tuple[float, np.ndarray, tuple[int, int], float] | None = None
        for index, (v1, _) in enumerate(self.lattices):
            period = math.hypot(*v1)
            for oriented in _orientations(self.fold(index)):
                corr = np.fft.irfft2(np.fft.rfft2(oriented) * t_fft, s=oriented.shape)
                spread = float(corr.std()) or 1e-9
                for sign in (1.0, -1.0):  # -1: a negative of the page
                    idx = int(np.argmax(sign * corr))
                    z = (sign * float(corr.flat[idx]) - sign * float(corr.mean())) / spread
                    if best is None or z > best[0]:
                        best = (z, sign * oriented, divmod(idx, oriented.shape[1]), period)
            if best is not None and best[0] >= SYNC_MIN_Z:
                break
        if best is None or best[0] < SYNC_MIN_Z:
            return PageReading(0.0 if best is None else best[0], False)
        z, oriented, (sy, sx), period = best
        aligned = np.roll(oriented, (-sy, -sx), axis=(0, 1))
        # per cell: the mean of its inner sub-samples (its edges blur into the neighbours)
        inner = aligned.reshape(CELLS, _SUB, CELLS, _SUB)[:, 1 : _SUB - 1, :, 1 : _SUB - 1].mean(axis=(1, 3)).ravel()
        role = np.array(layout.role)
        sign = np.array(layout.sign, dtype=np.float64)
        sync = role < 0
        amplitude = float((inner[sync] * sign[sync]).mean())
        noise = float((inner[sync] * sign[sync] - amplitude).var())
        data = ~sync
        bits = len(layout.positions)
        index = role[data] % bits
        correlations = np.bincount(index, weights=inner[data] * sign[data], minlength=bits)
        counts = np.bincount(index, minlength=bits)
        return PageReading(z, True, tuple(float(c) for c in correlations), tuple(float(noise * n) for n in counts),
                           period, amplitude, tuple(int(n) for n in counts), amplitude**2 / (noise or 1e-12))


class PageImage:
    """One leaked image: read whole, or as 2 x 2 or 3 x 3 parts whose readings add up, whichever shows the
    tile most clearly. A photo taken at an angle changes the scale across the page, so one fold of the
    whole smears the tile; each part is nearly an affine view of the page."""

    def __init__(self, image: Image.Image) -> None:
        self._gray = _gray_array(image)
        self._whole = _Region(self._gray)
        self._parts: dict[int, list[_Region]] = {}

    def _split(self, k: int) -> list[_Region]:
        if k not in self._parts:
            h, w = self._gray.shape
            self._parts[k] = [_Region(self._gray[h * i // k : h * (i + 1) // k, w * j // k : w * (j + 1) // k])
                              for i in range(k) for j in range(k)]
        return self._parts[k]

    def read(self, layout: TileLayout) -> PageReading:
        """The image's reading with this key (see ``_Region.read``); depends on the image and the key only."""
        best = self._whole.read(layout)
        if best.found and best.sync_z >= _CLEAR_SYNC_Z:
            return best
        for k in _SPLITS:
            found = [r for r in (part.read(layout) for part in self._split(k)) if r.found]
            if found and sum(r.clarity for r in found) > best.clarity:
                best = PageReading(
                    max(r.sync_z for r in found), True,
                    tuple(map(sum, zip(*(r.correlations for r in found), strict=True))),
                    tuple(map(sum, zip(*(r.variances for r in found), strict=True))),
                    statistics.fmean(r.period_px for r in found),
                    statistics.fmean(r.amplitude for r in found),
                    tuple(map(sum, zip(*(r.counts for r in found), strict=True))), sum(r.clarity for r in found))
        return best


def read_image(image: Image.Image, layout: TileLayout) -> PageReading:
    """``PageImage(image).read(layout)``."""
    return PageImage(image).read(layout)


def observed_bits(readings: list[PageReading], layout: TileLayout) -> tuple[int, int, int]:
    """The code positions the found pages read: (observed symbols, read mask, positions left unread).

    Pages are summed bit by bit (each page of a copy carries the same bits); a position whose summed
    correlation is within ``_READ_MIN_Z`` noise deviations of zero is left unread (an erasure).
    """
    found = [r for r in readings if r.found]
    if not found:
        return 0, 0, 0
    observed = mask = unread = 0
    for k, position in enumerate(layout.positions):
        total = sum(r.correlations[k] for r in found)
        variance = sum(r.variances[k] for r in found)
        if abs(total) <= _READ_MIN_Z * math.sqrt(variance):
            unread += 1
            continue
        mask |= 1 << position
        if total > 0:
            observed |= 1 << position
    return observed, mask, unread


# ---- the mark on PDF pages ---------------------------------------------------------------------------------


def mark_overlay(width: float, height: float, tile: Image.Image):  # noqa: ANN201 - a pypdf page
    """A transparent page of that size covered edge to edge by the tile (one image drawn many times).

    The tile image is stored once in the page; each placement is one line of its content stream.
    """
    import io

    from fpdf import FPDF
    from pypdf import PdfReader

    pdf = FPDF(unit="pt", format=(width, height))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    rows, cols = math.ceil(height / TILE_PT), math.ceil(width / TILE_PT)
    for row in range(rows):
        for col in range(cols):
            pdf.image(tile, x=col * TILE_PT, y=row * TILE_PT, w=TILE_PT, h=TILE_PT)
    return PdfReader(io.BytesIO(bytes(pdf.output()))).pages[0]


# ---- tracing -----------------------------------------------------------------------------------------------


def _weakened_note(found: list[PageReading], layout: TileLayout) -> str | None:
    """A note when many code positions read far weaker than the sync pattern shows the mark to be.

    In an untouched copy every position's cells are darkened as strongly as the sync cells; copies averaged
    together (their positions that differ cancel out) or cells edited by someone holding the key read weak
    at far more positions than noise explains (over 5 standard deviations above the expected count).
    """
    weak = 0
    expected = variance = 0.0
    for k in range(len(layout.positions)):
        signal = sum(r.amplitude * r.counts[k] for r in found)
        spread = math.sqrt(sum(r.variances[k] for r in found)) or 1e-12
        total = sum(r.correlations[k] for r in found)
        if signal <= 0:
            return None
        weak += abs(total) < signal / 2
        # a genuine copy reads N(signal, spread): P(|reading| < signal / 2)
        p = _phi(-signal / (2 * spread)) - _phi(-3 * signal / (2 * spread))
        expected += p
        variance += p * (1 - p)
    if weak >= 10 and weak > expected + 5 * math.sqrt(variance):
        return (f"image mark weakened: {weak} of {len(layout.positions)} code positions read at under half the "
                "strength of its sync pattern (copies combined, or marked cells edited)")
    return None


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def trace_pages(pages: Sequence[PageImage], candidates: Sequence[tuple[TracingSecret, Sequence[str]]],
                ) -> tuple[int, TraceReport] | None:
    """Trace leaked page images by their image marks, against each traced document's secret and recipients.

    Returns None when no candidate's mark is found on any page. Otherwise the index of the candidate whose
    mark was found (the one with the highest score over its threshold, if several) and its report. Each
    found candidate is one test: its threshold bounds false accusations by epsilon / (candidates found), so
    together they stay under epsilon; which candidates are found depends on the images alone.

    Raises InputError if a candidate's recipients are not a list of distinct strings.
    """
    from parley.tracing.code import reading_false_accusation_bound, reading_threshold
    from parley.tracing.trace import Accusation, TraceReport

    found = []
    for index, (secret, recipients) in enumerate(candidates):
        if isinstance(recipients, str) or len(set(recipients)) != len(recipients) or not recipients or \
                not all(isinstance(r, str) for r in recipients):
            raise InputError("recipients must be a non-empty list of distinct strings")
        code = annex_code(secret)
        layout = TileLayout.of(code)
        readings = [page.read(layout) for page in pages]
        if any(r.found for r in readings):
            found.append((index, secret, list(recipients), code, layout, readings))
    if not found:
        return None
    tests = len(found)
    best: tuple[tuple[bool, float], int, TraceReport] | None = None
    for index, secret, recipients, code, layout, readings in found:
        hits = [r for r in readings if r.found]
        observed, mask, unread = observed_bits(readings, layout)
        scorer = code.scorer(observed, mask)
        n, eps = len(recipients), secret.params.epsilon
        z = reading_threshold(scorer, n, eps / tests)
        scores = {rid: scorer.score(code.codeword(rid)) for rid in recipients}
        accused = [Accusation(rid, s, min(1.0, tests * reading_false_accusation_bound(scorer, s, n)), "image")
                   for rid, s in sorted(scores.items(), key=lambda kv: -kv[1]) if s >= z]
        notes = []
        if len(hits) < len(readings):
            pages_found = ", ".join(str(i + 1) for i, r in enumerate(readings) if r.found)
            notes.append(f"image mark found on page(s) {pages_found} of {len(readings)} only: the others show none "
                         "(whitened, binarised, or not pages of this annex)")
        weakened = _weakened_note(hits, layout)
        if weakened:
            notes.append(weakened)
        top = max(scores.values())
        report = TraceReport(
            accused=accused, threshold=z, epsilon=eps, n_recipients=n, code_length=code.params.length,
            symbols_read=mask.bit_count(), symbols_erased=unread, conflicts=0, words_matched=0, best_score=top,
            scores=scores, layers={"image": {"read": mask.bit_count(), "located": len(layout.positions),
                                             "unreadable": unread}},
            tampering=notes)
        rank = (bool(accused), top / z if math.isfinite(z) and z > 0 else 0.0)
        if best is None or rank > best[0]:
            best = (rank, index, report)
    return best[1], best[2]
