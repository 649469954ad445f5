"""Leak-tracing benchmark: detection rates, false accusations and trace time (docs/tracing.md).

    .venv/bin/python bench/bench_tracing.py            # full: T=100 trials per cell
    .venv/bin/python bench/bench_tracing.py --quick    # under a minute
    .venv/bin/python bench/bench_tracing.py --json     # machine-readable

Every cell: a fresh keyed secret per trial, random leaker(s) among n recipients, a random
excerpt of the given length, the attack, then ``trace`` over all n recipients.  Detected =
at least one leaker accused; a false accusation = any innocent accused.  On top of the
n - c innocents scored in every trace, extra innocent codewords (ids never given a copy) are
scored against the leaks of the n = 1,000 cells.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from parley.tracing import TracingSecret, capacity, trace, unmark  # noqa: E402
from parley.tracing.code import threshold  # noqa: E402
from parley.tracing.marks import scan  # noqa: E402
from parley.tracing.sample import english_memo, russian_memo  # noqa: E402
from parley.tracing.simulate import (  # noqa: E402
    COLLUSION_STRATEGIES,
    SINGLE_ATTACKS,
    collude,
    copy_cells,
    excerpt_span,
)
from parley.tracing.trace import _document, read_leak  # noqa: E402

EPSILON = 1e-6
DOC_CHARS = 24000


def scenarios() -> list[tuple[int, str]]:
    """(number of colluders, attack) pairs of the acceptance table."""
    rows = [(1, attack) for attack in SINGLE_ATTACKS]
    rows += [(c, s) for c in (2, 3) for s in COLLUSION_STRATEGIES]
    return rows


def _document_text(language: str) -> str:
    return english_memo(DOC_CHARS, seed=7) if language == "en" else russian_memo(DOC_CHARS, seed=7)


def run_cell(args: tuple[str, int, int, int, str, int, int, int]) -> dict[str, object]:
    """One table cell: T trials of (n, excerpt length, colluders, attack)."""
    language, n, length, colluders, attack, trials, extra_innocents, seed = args
    text = _document_text(language)
    layout = scan(text)
    recipients = [f"recipient-{i:04d}" for i in range(n)]
    detected = false_acc = innocents = extra_scored = extra_false = 0
    symbols: list[int] = []
    margins: list[float] = []  # best innocent score / threshold
    for t in range(trials):
        tag = f"{language}|{n}|{length}|{colluders}|{attack}|{t}|{seed}".encode()
        rng = random.Random(hashlib.sha256(tag).digest())  # noqa: S311 - simulation
        secret = TracingSecret.from_seed(hashlib.sha256(b"key|" + tag).digest(), n, EPSILON)
        code = _document(secret, text)
        guilty = rng.sample(recipients, min(colluders, n))
        span = excerpt_span(text, length, rng)
        copies = [copy_cells(text, layout, code, r) for r in guilty]
        if colluders == 1:
            leak = SINGLE_ATTACKS[attack]("".join(copies[0][span[0] : span[1]]))
        else:
            leak = collude(copies, text, span, attack, rng)
        report = trace(leak, text, recipients, secret)
        accused = {a.recipient for a in report.accused}
        detected += bool(accused & set(guilty))
        false_acc += bool(accused - set(guilty))
        innocents += n - len(guilty)
        symbols.append(report.symbols_read)
        best_innocent = max(s for r, s in report.scores.items() if r not in guilty)
        if report.threshold != float("inf"):
            margins.append(best_innocent / report.threshold)
        if extra_innocents and t == 0:
            reading = read_leak(leak, text, secret)
            z = threshold(reading.scorer.symbols, n, EPSILON, secret.params.biases)
            for k in range(extra_innocents):
                score = reading.scorer.score(code.codeword(f"never-a-recipient-{k}"))
                extra_false += score >= z
                extra_scored += 1
    return {
        "language": language,
        "n": n,
        "excerpt_chars": length,
        "colluders": colluders,
        "attack": attack,
        "trials": trials,
        "detected": detected,
        "detection_rate": detected / trials,
        "false_accusations": false_acc,
        "innocents_scored": innocents,
        "extra_innocents_scored": extra_scored,
        "extra_false_accusations": extra_false,
        "median_symbols_read": statistics.median(symbols),
        "max_innocent_over_threshold": max(margins) if margins else None,
    }


def timing(language: str, repeats: int) -> dict[str, float]:
    """Trace time among 1,000 recipients, against the time to unmark the same excerpt."""
    text = _document_text(language)
    n = 1000
    recipients = [f"recipient-{i:04d}" for i in range(n)]
    secret = TracingSecret.from_seed(hashlib.sha256(b"timing").digest(), n, EPSILON)
    code = _document(secret, text)
    layout = scan(text)
    rng = random.Random(5)  # noqa: S311 - simulation
    out: dict[str, float] = {}
    for length in (1000, 5000):
        span = excerpt_span(text, length, rng)
        leak = "".join(copy_cells(text, layout, code, recipients[17])[span[0] : span[1]])
        t_trace, t_unmark = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            trace(leak, text, recipients, secret)
            t_trace.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            unmark(leak)
            t_unmark.append(time.perf_counter() - t0)
        out[f"trace_s_{length}"] = statistics.median(t_trace)
        out[f"unmark_s_{length}"] = statistics.median(t_unmark)
        out[f"ratio_{length}"] = out[f"trace_s_{length}"] / out[f"unmark_s_{length}"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few trials, under a minute")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--trials", type=int, default=None, help="trials per cell (default 100, quick 8)")
    parser.add_argument("--extra-innocents", type=int, default=None, help="extra innocents per n=1000 cell")
    parser.add_argument("--language", choices=("en", "ru"), default="en")
    parser.add_argument("--n", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args(argv)
    trials = opts.trials or (8 if opts.quick else 100)
    extra = opts.extra_innocents if opts.extra_innocents is not None else (500 if opts.quick else 5000)
    started = time.perf_counter()
    cells = [
        (opts.language, n, length, c, attack, trials, extra if n == 1000 else 0, opts.seed)
        for n in opts.n
        for length in (1000, 5000)
        for c, attack in scenarios()
    ]
    with ProcessPoolExecutor(max_workers=opts.workers) as pool:
        rows = list(pool.map(run_cell, cells))
    text = _document_text(opts.language)
    result = {
        "command": "bench/bench_tracing.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "epsilon": EPSILON,
        "trials": trials,
        "capacity": {lang: capacity(_document_text(lang)) for lang in ("en", "ru")},
        "document_chars": len(text),
        "rows": rows,
        "innocents_scored": sum(r["innocents_scored"] for r in rows)
        + sum(r["extra_innocents_scored"] for r in rows),
        "false_accusations": sum(r["false_accusations"] for r in rows)
        + sum(r["extra_false_accusations"] for r in rows),
        "timing_n1000": timing(opts.language, 3 if opts.quick else 10),
    }
    result["wall_s"] = time.perf_counter() - started
    if opts.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"# {result['command']}  (epsilon={EPSILON}, {trials} trials per cell, {result['wall_s']:.0f} s)")
    for lang, cap in result["capacity"].items():
        print(
            f"capacity {lang}: {cap['per_1000_chars']:.0f} symbols per 1,000 chars ({cap['pairs']} pairs, {cap['gaps']} gaps)"
        )
    print(
        f"{'n':>5} {'chars':>5} {'c':>2} {'attack':<16} {'detected':>9} {'false':>5} {'symbols':>7} {'innoc/Z':>7}"
    )
    for r in rows:
        margin = r["max_innocent_over_threshold"]
        print(
            f"{r['n']:>5} {r['excerpt_chars']:>5} {r['colluders']:>2} {r['attack']:<16} "
            f"{r['detection_rate']:>8.0%} {r['false_accusations']:>5} {r['median_symbols_read']:>7.0f} "
            f"{(margin if margin is not None else float('nan')):>7.2f}"
        )
    print(
        f"innocent codewords scored: {result['innocents_scored']}, false accusations: {result['false_accusations']}"
    )
    tm = result["timing_n1000"]
    for length in (1000, 5000):
        print(
            f"trace among 1,000 recipients, {length}-char excerpt: {tm[f'trace_s_{length}'] * 1000:.0f} ms "
            f"({tm[f'ratio_{length}']:.0f}x the time to unmark it)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
