"""Image marks of PDF annexes: cost of stamping, detection after each attack, innocents accused (docs/tracing.md).

    .venv/bin/python bench/bench_annex_marks.py                 # 20 trials per attack, a few minutes
    .venv/bin/python bench/bench_annex_marks.py --trials 5      # quick
    .venv/bin/python bench/bench_annex_marks.py --json
    .venv/bin/python bench/bench_annex_marks.py --only halftoned     # the attacks whose name has that

Cost: an A4 annex of text pages (fpdf2), stamped as ``stamp_copies`` does (copy line, and the image mark
over every page), file size and time per page; and, for comparison, the size of the same pages rasterised
at 150 dpi (what a copy made of page images would weigh, its text no longer selectable).

Every trial: a fresh keyed secret for ``--recipients`` recipients (epsilon 1e-6), a random leaker, one page
of its stamped copy rendered (100 dpi on screen, 150 dpi for a print-out, 600 dpi for a printer's
halftone), the attack, then ``trace_pages``.
Detected = a leaker accused; false = any innocent accused, among the recipients and among ``--innocents``
ids never given a copy scored against the same reading with the same threshold.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from PIL import Image  # noqa: E402

from parley.client.tracing import stamp_pdf  # noqa: E402
from parley.tracing import TracingSecret  # noqa: E402
from parley.tracing.code import reading_threshold  # noqa: E402
from parley.tracing.extract import render_pdf_page  # noqa: E402
from parley.tracing.image_attacks import (  # noqa: E402
    binarise,
    crop_copy_line,
    halftone,
    photo_of_screen,
    print_and_scan,
    screenshot,
    whiten,
)
from parley.tracing.image_marks import (  # noqa: E402
    PageImage,
    TileLayout,
    annex_code,
    observed_bits,
    tile_image,
    trace_pages,
)
from parley.tracing.sample import english_memo_with_alternatives  # noqa: E402

EPSILON = 1e-6
LINE = "Copy for A. Member, Northwind Ltd, 2026-12-07 10:00 UTC, copy no. 7"


def _annex(path: Path, pages: int) -> Path:
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="A4")
    pdf.set_font("helvetica", size=11)
    pdf.set_margins(56, 56)
    for number in range(pages):
        pdf.add_page()
        text = english_memo_with_alternatives(3200, seed=number).replace("{", "").replace("}", "").replace("|", " ")
        pdf.multi_cell(0, 15, f"Annex page {number + 1}.\n{text}")
    pdf.output(str(path))
    return path


def _averaged(pages: list[Image.Image]) -> Image.Image:
    out = pages[0].convert("L")
    for number, page in enumerate(pages[1:], start=2):
        out = Image.blend(out, page.convert("L"), 1 / number)
    return out


#: name -> (colluders, dpi the page is rendered at, attack)
ATTACKS: dict[str, tuple[int, int, Callable[[list[Image.Image], random.Random], Image.Image]]] = {
    "page as rendered": (1, 100, lambda p, r: p[0]),
    "copy line cropped": (1, 100, lambda p, r: crop_copy_line(p[0], 0.08)),
    "screenshot 80%": (1, 100, lambda p, r: screenshot(p[0], 0.8, r.randrange(99))),
    "screenshot 60%": (1, 100, lambda p, r: screenshot(p[0], 0.6, r.randrange(99))),
    "print-scan +-1 deg": (1, 150, lambda p, r: print_and_scan(p[0], angle=r.choice((-1, 1)) * r.uniform(0.3, 1),
                                                                 seed=r.randrange(99))),
    "print-scan heavy": (1, 150, lambda p, r: print_and_scan(p[0], angle=r.uniform(-1, 1), blur=2.0, noise=8,
                                                               quality=50, scale=0.7, seed=r.randrange(99))),
    "print-scan halftoned": (1, 600, lambda p, r: print_and_scan(halftone(p[0]), angle=r.uniform(-1, 1), blur=3.0,
                                                                   scale=0.25, seed=r.randrange(99))),
    "quarter page": (1, 100, lambda p, r: p[0].crop((0, 0, p[0].width // 2, p[0].height // 2))),
    "1/16 page": (1, 100, lambda p, r: p[0].crop((0, 0, p[0].width // 4, p[0].height // 4))),
    "photo of screen 2%": (1, 100, lambda p, r: photo_of_screen(p[0], tilt=0.02, seed=r.randrange(99))),
    "photo of screen 4%": (1, 100, lambda p, r: photo_of_screen(p[0], tilt=0.04, seed=r.randrange(99))),
    "photo of screen 8%": (1, 100, lambda p, r: photo_of_screen(p[0], tilt=0.08, seed=r.randrange(99))),
    "2 copies averaged": (2, 100, lambda p, r: _averaged(p)),
    "3 copies averaged": (3, 100, lambda p, r: _averaged(p)),
    "background whitened": (1, 100, lambda p, r: whiten(p[0])),
    "binarised": (1, 100, lambda p, r: binarise(p[0])),
}


def cost(pages: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        source = _annex(Path(folder) / "annex.pdf", pages)
        secret = TracingSecret.generate(20, EPSILON)
        tile = tile_image(annex_code(secret), "device-1")
        start = time.perf_counter()
        stamp_pdf(source, LINE, Path(folder) / "line.pdf")
        line_only = time.perf_counter() - start
        start = time.perf_counter()
        stamp_pdf(source, LINE, Path(folder) / "marked.pdf", tile)
        marked = time.perf_counter() - start
        raster = Path(folder) / "raster.pdf"
        images = [render_pdf_page(source, n, dpi=150).convert("L") for n in range(pages)]
        images[0].save(raster, "PDF", resolution=150, save_all=True, append_images=images[1:])
        read_start = time.perf_counter()
        page = PageImage(render_pdf_page(Path(folder) / "marked.pdf", 0, dpi=100))
        page.read(TileLayout.of(annex_code(secret)))
        read = time.perf_counter() - read_start
        return {
            "pages": pages,
            "original_bytes": source.stat().st_size,
            "copy_line_bytes": (Path(folder) / "line.pdf").stat().st_size,
            "marked_bytes": (Path(folder) / "marked.pdf").stat().st_size,
            "rasterised_150dpi_bytes": raster.stat().st_size,
            "stamp_ms_per_page_line_only": 1000 * line_only / pages,
            "stamp_ms_per_page_marked": 1000 * marked / pages,
            "read_ms_one_page_100dpi": 1000 * read,
        }


def trials(n_trials: int, recipients: int, innocents: int, seed: int,
           only: str = "") -> dict[str, dict[str, float]]:
    rng = random.Random(seed)  # noqa: S311 - simulation
    ids = [f"device-{i:04d}" for i in range(recipients)]
    extra = [f"never-sent-{i:05d}" for i in range(innocents)]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        source = _annex(Path(folder) / "annex.pdf", 1)
        for name, (colluders, dpi, attack) in ATTACKS.items():
            if only not in name:
                continue
            detected = false = false_extra = found = 0
            times, read = [], []
            for _ in range(n_trials):
                secret = TracingSecret.from_seed(rng.randbytes(32), recipients, EPSILON)
                code = annex_code(secret)
                leakers = rng.sample(ids, colluders)
                pages = []
                for number, leaker in enumerate(leakers):
                    out = Path(folder) / f"copy{number}.pdf"
                    stamp_pdf(source, LINE, out, tile_image(code, leaker))
                    pages.append(render_pdf_page(out, 0, dpi=dpi))
                leak = attack(pages, rng)
                start = time.perf_counter()
                page = PageImage(leak)
                result = trace_pages([page], [(secret, ids)])
                times.append(time.perf_counter() - start)
                if result is None:
                    read.append(0)
                    continue
                found += 1
                report = result[1]
                read.append(report.symbols_read)
                accused = {a.recipient for a in report.accused}
                detected += bool(accused & set(leakers))
                false += bool(accused - set(leakers))
                if extra:
                    layout = TileLayout.of(code)
                    observed, mask, _ = observed_bits([page.read(layout)], layout)
                    scorer = code.scorer(observed, mask)
                    z = reading_threshold(scorer, recipients, EPSILON)
                    false_extra += sum(scorer.score(code.codeword(i)) >= z for i in extra)
            results[name] = {"trials": n_trials, "mark_found": found / n_trials, "detected": detected / n_trials,
                             "false_trials": false, "false_extra_innocents": false_extra,
                             "innocents_scored": (recipients - colluders + innocents) * n_trials,
                             "symbols_read_median": statistics.median(read), "trace_s_median": statistics.median(times)}
            print(f"  {name:22s} found {found}/{n_trials}  detected {detected}/{n_trials}  false {false}"
                  f" (+{false_extra} of {innocents * n_trials} extra)  read {statistics.median(read):.0f}"
                  f"  {statistics.median(times):.2f} s", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--recipients", type=int, default=100)
    parser.add_argument("--innocents", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--seed", type=int, default=int(hashlib.sha256(b"annex").hexdigest()[:8], 16))
    parser.add_argument("--only", default="", help="run only the attacks whose name contains this")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    attacks = trials(args.trials, args.recipients, args.innocents, args.seed, args.only) if args.trials > 0 else {}
    figures = {"cost": cost(args.pages), "attacks": attacks,
               "recipients": args.recipients, "epsilon": EPSILON}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    c = figures["cost"]
    print(f"A4 annex, {c['pages']} text pages: original {c['original_bytes']:,} B; with copy line "
          f"{c['copy_line_bytes']:,} B; with copy line and image mark {c['marked_bytes']:,} B; "
          f"rasterised at 150 dpi {c['rasterised_150dpi_bytes']:,} B")
    print(f"stamping per page: copy line {c['stamp_ms_per_page_line_only']:.1f} ms, with the mark "
          f"{c['stamp_ms_per_page_marked']:.1f} ms; reading one page at 100 dpi {c['read_ms_one_page_100dpi']:.0f} ms")
    print(f"\n{'attack':22s} {'found':>6s} {'detected':>9s} {'false':>6s} {'extra false':>12s} {'read':>5s} {'s':>5s}")
    for name, r in figures["attacks"].items():
        print(f"{name:22s} {r['mark_found']:6.0%} {r['detected']:9.0%} {r['false_trials']:6d} "
              f"{r['false_extra_innocents']:5d}/{r['innocents_scored']:<6d} {r['symbols_read_median']:5.0f} "
              f"{r['trace_s_median']:5.2f}")


if __name__ == "__main__":
    main()
