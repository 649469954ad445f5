"""Leak-tracing attack suite: detection rates and false accusations by attack and excerpt length (docs/tracing.md).

    .venv/bin/python bench/bench_tracing.py             # full (long: run it on a quiet machine)
    .venv/bin/python bench/bench_tracing.py --quick     # a few trials per cell, about a minute
    .venv/bin/python bench/bench_tracing.py --ocr 10    # also 10 OCR trials (Tesseract, ~25 s each)
    .venv/bin/python bench/bench_tracing.py --json
    .venv/bin/python bench/bench_tracing.py --only-drafts   # agreement drafts: N words of a draft version

Every trial: a fresh keyed secret planned for n = 1,000 recipients, epsilon = 1e-6, random
leaker(s), a random excerpt of the given number of words, the attack, then ``trace`` over all
1,000 recipients.  Detected = at least one leaker accused; false = any innocent accused.  On
top, ``--innocents`` codewords of ids never given a copy are scored against some leaks (the
false-accusation column "extra").

Documents: the sample memorandum with the author's alternatives written for a share of the
words that have one (``english_memo_with_alternatives``) -- the slot density of each is printed
-- and the plain sample (automatic variants only) for the normalisation attack.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from parley.tracing import DraftText, TracedText, TracingSecret, agreement_code, capacity, trace, trace_drafts  # noqa: E402
from parley.tracing.code import false_accusation_bound, reading_threshold, threshold  # noqa: E402
from parley.tracing.document import changed_word_share, document_code, make_copy  # noqa: E402
from parley.tracing.marks import fold_homoglyphs  # noqa: E402
from parley.tracing.sample import english_memo, english_memo_with_alternatives  # noqa: E402
from parley.tracing.simulate import (  # noqa: E402
    collude,
    copy_cells,
    normalise_wording,
    randomise_zero_width,
    retype,
    strip_format,
    swap_zero_width,
    words_span,
)
from parley.tracing.trace import read_leak  # noqa: E402

EPSILON = 1e-6
N = 1000
DOC_CHARS = 90000
SHARES = {"dense": 0.8, "medium": 0.6}


def _doc(kind: str) -> TracedText:
    if kind == "plain":
        return TracedText.prepare(english_memo(DOC_CHARS, seed=7))
    if kind == "invisible":
        return TracedText.prepare(english_memo_with_alternatives(DOC_CHARS, seed=7, share=SHARES["medium"]),
                                  invisible=True)  # fmt: skip
    return TracedText.prepare(english_memo_with_alternatives(DOC_CHARS, seed=7, share=SHARES[kind]))


ATTACKS = {
    "none": lambda leak, doc, rng: leak,
    "whitespace": lambda leak, doc, rng: " ".join(leak.split()),
    "retyped": lambda leak, doc, rng: retype(leak, rng, typo_rate=0.01),
    "normalised": lambda leak, doc, rng: normalise_wording(leak, doc),
    "zw-swapped": lambda leak, doc, rng: swap_zero_width(leak),
    "zw-randomised": lambda leak, doc, rng: randomise_zero_width(leak, rng),
    "skeleton+format-stripped": lambda leak, doc, rng: strip_format(fold_homoglyphs(leak)),
}


def _trace_with_worst_case_threshold(leak: str, doc: TracedText, recipients: list[str],
                                     secret: TracingSecret) -> set[str]:
    """The baseline: the same trace with the threshold that assumes the worst law at every position read
    (``code.threshold``, used before thresholds followed the reading), for a side-by-side count."""
    tracing_trace = importlib.import_module("parley.tracing.trace")  # the package's ``trace`` is the function
    biases = secret.params.biases
    saved = tracing_trace.reading_threshold, tracing_trace.reading_false_accusation_bound
    tracing_trace.reading_threshold = lambda scorer, n, eps: threshold(scorer.symbols, n, eps, biases)
    tracing_trace.reading_false_accusation_bound = (
        lambda scorer, score, n: false_accusation_bound(score, scorer.symbols, n, biases))
    try:
        return {a.recipient for a in trace(leak, doc, recipients, secret).accused}
    finally:
        tracing_trace.reading_threshold, tracing_trace.reading_false_accusation_bound = saved


def run_cell(args: tuple[str, int, int, str, int, int, int]) -> dict[str, object]:
    """T trials of (document, excerpt words, colluders, attack or strategy)."""
    kind, words, colluders, attack, trials, innocents, seed = args
    doc = _doc(kind)
    recipients = [f"recipient-{i:04d}" for i in range(N)]
    detected = false_acc = extra = extra_false = detected_worst_case = false_worst_case = 0
    symbols: list[int] = []
    scrub_reported = 0
    for t in range(trials):
        tag = f"{kind}|{words}|{colluders}|{attack}|{t}|{seed}".encode()
        rng = random.Random(hashlib.sha256(tag).digest())  # noqa: S311 - simulation
        secret = TracingSecret.from_seed(hashlib.sha256(b"key|" + tag).digest(), N, EPSILON)
        code = document_code(secret, doc.canonical)
        guilty = rng.sample(recipients, colluders)
        span = words_span(doc.canonical, words, rng)
        copies = [copy_cells(doc, code, r) for r in guilty]
        if colluders == 1:
            leak = ATTACKS[attack]("".join(copies[0][span[0] : span[1]]), doc, rng)
        else:
            leak = collude(copies, doc.canonical, span, attack, rng)
        report = trace(leak, doc, recipients, secret)
        accused = {a.recipient for a in report.accused}
        detected += bool(accused & set(guilty))
        false_acc += bool(accused - set(guilty))
        baseline = _trace_with_worst_case_threshold(leak, doc, recipients, secret)
        detected_worst_case += bool(baseline & set(guilty))
        false_worst_case += bool(baseline - set(guilty))
        symbols.append(report.symbols_read)
        scrub_reported += bool(report.tampering)
        if innocents and t < 4:
            reading = read_leak(leak, doc, secret)
            for channel in reading.channels:
                if not channel.scorer.symbols:
                    continue
                z = reading_threshold(channel.scorer, N, EPSILON / 2)
                for k in range(innocents // 4):
                    extra_false += channel.scorer.score(code.codeword(f"never-a-recipient-{t}-{k}")) >= z
                extra += innocents // 4
                break
    return {
        "document": kind, "words": words, "colluders": colluders, "attack": attack, "trials": trials,
        "detection_rate": detected / trials, "false_accusations": false_acc,
        "innocents_scored": trials * (N - colluders), "extra_innocents": extra,
        "extra_false_accusations": extra_false, "median_symbols": statistics.median(symbols),
        "tampering_reported": scrub_reported / trials,
        "detection_rate_worst_case_threshold": detected_worst_case / trials,
        "false_accusations_worst_case_threshold": false_worst_case,
    }  # fmt: skip


def ocr_trials(count: int, seed: int, pages: int = 1) -> dict[str, object]:
    """Screenshots of the first ``pages`` pages of a recipient's memorandum PDF (copy line cropped off),
    read by Tesseract and traced together."""
    import tempfile

    from parley.client.pdf import memorandum_pdf
    from parley.tracing.extract import leaked_text, render_pdf_page

    source = english_memo_with_alternatives(5600 * pages, seed=31, share=SHARES["dense"]).replace("\n\n", " ")
    doc = TracedText.prepare(source)
    recipients = [f"recipient-{i:04d}" for i in range(N)]
    detected = false_acc = 0
    symbols, located, seconds = [], [], []
    for t in range(count):
        secret = TracingSecret.from_seed(hashlib.sha256(f"ocr|{t}|{seed}".encode()).digest(), N, EPSILON)
        code = document_code(secret, doc.canonical)
        leaker = random.Random(t).choice(recipients)  # noqa: S311 - simulation
        with tempfile.TemporaryDirectory() as folder:
            pdf = Path(folder) / "copy.pdf"
            memorandum_pdf(pdf, title="Positions", sections=[("Position", make_copy(doc, code, leaker))],
                           sender="Northwind Ltd", delivered_at="2026-12-07", copy_line="Copy for A, B")
            texts = []
            for number in range(pages):
                page = render_pdf_page(pdf, number, dpi=150)
                width, height = page.size
                shot = Path(folder) / f"shot{number}.png"
                page.crop((0, int(height * 0.09), width, int(height * 0.93))).save(shot)
                started = time.perf_counter()
                texts.append(leaked_text(shot))
                seconds.append(time.perf_counter() - started)
            text = "\n".join(texts)
        report = trace(text, doc, recipients, secret)
        accused = {a.recipient for a in report.accused}
        detected += leaker in accused
        false_acc += bool(accused - {leaker})
        symbols.append(report.symbols_read)
        located.append(report.layers["wording"]["located"])
    return {
        "trials": count, "pages": pages, "words_read": len(text.split()), "detection_rate": detected / count if count else None,
        "false_accusations": false_acc, "median_symbols": statistics.median(symbols) if symbols else None,
        "median_located": statistics.median(located) if located else None,
        "median_ocr_s": statistics.median(seconds) if seconds else None,
        "slots_per_1000_words": capacity(doc)["slots_per_1000_words"],
    }  # fmt: skip


DRAFT_ARTICLES = 20
DRAFT_CHARS = 1500


def _draft_versions(count: int = DRAFT_ARTICLES) -> list[tuple[int, DraftText]]:
    """An agreement of ``count`` articles (20: about 5,600 words, the dense wording) in three versions: each
    new version rewrites four articles and adds a sentence to two others."""
    articles = [english_memo_with_alternatives(DRAFT_CHARS, seed=200 + k, share=SHARES["dense"]).replace("\n\n", " ")
                for k in range(count)]
    versions = [list(articles)]
    for version in (2, 3):
        nxt = list(versions[-1])
        rng = random.Random(version)  # noqa: S311 - simulation
        for k in rng.sample(range(count), 4):
            nxt[k] = english_memo_with_alternatives(DRAFT_CHARS, seed=300 + 10 * version + k,
                                                    share=SHARES["dense"]).replace("\n\n", " ")
        for k in rng.sample(range(count), 2):
            nxt[k] += f" The parties will review this article in round {version}."
        versions.append(nxt)
    return [(number, DraftText.prepare("en", texts)) for number, texts in enumerate(versions, start=1)]


def _words(text: str, words: int, rng: random.Random) -> str:
    tokens = text.split()
    first = rng.randrange(0, max(1, len(tokens) - words))
    return " ".join(tokens[first : first + words])


def run_draft_cell(args: tuple[int, str, int, int] | tuple[int, str, int, int, int]) -> dict[str, object]:
    """T trials of a leak of ``words`` words of an agreement's drafts: ``one-version`` (an excerpt of the
    leaker's copy of one version, retyped), ``two-versions`` (half from version 1, half from version 3 of
    one leaker's copies) or ``3-colluders`` (sentence by sentence from three readers' copies of any version).
    A fifth element, if any, is the agreement's number of articles (default 20)."""
    words, kind, trials, seed = args[:4]
    articles = args[4] if len(args) > 4 else DRAFT_ARTICLES
    drafts = _draft_versions(articles)
    recipients = [f"recipient-{i:04d}" for i in range(N)]
    detected = false_acc = version_named = 0
    symbols: list[int] = []
    for t in range(trials):
        tag = f"draft|{words}|{kind}|{t}|{seed}".encode()
        rng = random.Random(hashlib.sha256(tag).digest())  # noqa: S311 - simulation
        secret = TracingSecret.from_seed(hashlib.sha256(b"key|" + tag).digest(), N, EPSILON)
        code = agreement_code(secret, "accord")
        guilty = rng.sample(recipients, 3 if kind == "3-colluders" else 1)
        version = rng.randrange(len(drafts))
        if kind == "one-version":
            leak = retype(_words("\n\n".join(drafts[version][1].copy(code, guilty[0])), words, rng), rng)
        elif kind == "two-versions":
            halves = [_words("\n\n".join(drafts[v][1].copy(code, guilty[0])), words // 2, rng) for v in (0, 2)]
            leak = retype("\n\n".join(halves), rng)
        else:
            copies = [" ".join(draft.copy(code, r)) for r in guilty for _, draft in drafts]
            sentences = [c.split(". ") for c in copies]
            count = min(map(len, sentences))
            first = rng.randrange(0, max(1, count - words // 15))
            leak = ". ".join(rng.choice(sentences)[j] for j in range(first, min(count, first + words // 15)))
        report = trace_drafts(leak, "accord", drafts, recipients, secret)
        accused = {a.recipient for a in report.accused}
        detected += bool(accused & set(guilty))
        false_acc += bool(accused - set(guilty))
        version_named += kind == "one-version" and drafts[version][0] in report.versions
        symbols.append(report.symbols_read)
    return {"words": words, "leak": kind, "articles": articles, "trials": trials, "detection_rate": detected / trials,
            "false_accusations": false_acc, "innocents_scored": trials * (N - len(guilty)),
            "median_symbols": statistics.median(symbols),
            **({"version_named": version_named / trials} if kind == "one-version" else {})}


def draft_noise(readers: int = 20) -> dict[str, float]:
    """Share of the sentences a new version leaves unchanged that a reader's redline shows changed: with one
    code per agreement (slots placed by context), and with a code per version (the memoranda's way)."""
    import difflib

    drafts = _draft_versions()
    secret = TracingSecret.from_seed(hashlib.sha256(b"noise").digest(), N, EPSILON)
    shared = agreement_code(secret, "accord")
    per_version = {number: agreement_code(secret, f"accord-v{number}") for number, _ in drafts}
    unchanged = noisy_shared = noisy_per_version = 0
    for r in range(readers):
        reader = f"recipient-{r:04d}"
        for (a, old), (b, new) in zip(drafts, drafts[1:], strict=False):
            copies = {"shared": (old.copy(shared, reader), new.copy(shared, reader)),
                      "per-version": (old.copy(per_version[a], reader), new.copy(per_version[b], reader))}
            for k, (canon_old, canon_new) in enumerate(zip(old.canonical, new.canonical, strict=True)):
                co, cn = canon_old.split(". "), canon_new.split(". ")
                for tag, i1, i2, j1, _ in difflib.SequenceMatcher(None, co, cn, autojunk=False).get_opcodes():
                    if tag != "equal":
                        continue
                    for i, j in zip(range(i1, i2), range(j1, j1 + i2 - i1), strict=True):
                        unchanged += 1
                        for name, (mo, mn) in copies.items():
                            differs = mo[k].split(". ")[i] != mn[k].split(". ")[j]
                            if name == "shared":
                                noisy_shared += differs
                            else:
                                noisy_per_version += differs
    return {"unchanged_sentences": unchanged, "noise_one_code_per_agreement": noisy_shared / unchanged,
            "noise_one_code_per_version": noisy_per_version / unchanged,
            "draft_words": len(" ".join(drafts[0][1].canonical).split()),
            "slots_per_version": statistics.mean(len(d.flat_contexts) for _, d in drafts),
            "distinct_contexts": statistics.mean(len(set(d.flat_contexts)) for _, d in drafts)}


def draft_timing(repeats: int = 5) -> dict[str, float]:
    """CPU time of one trace of a 1,000-word excerpt of a draft among 1,000 recipients, against its three
    versions (first trace: the versions' texts indexed; then again)."""
    from parley.tracing.drafts import _master

    drafts = _draft_versions()
    recipients = [f"recipient-{i:04d}" for i in range(N)]
    secret = TracingSecret.from_seed(hashlib.sha256(b"draft-timing").digest(), N, EPSILON)
    leak = _words("\n\n".join(drafts[1][1].copy(agreement_code(secret, "accord"), recipients[17])), 1000,
                  random.Random(5))  # noqa: S311 - simulation
    _master.cache_clear()
    started = time.process_time()
    trace_drafts(leak, "accord", drafts, recipients, secret)
    first = time.process_time() - started
    again = []
    for _ in range(repeats):
        started = time.process_time()
        trace_drafts(leak, "accord", drafts, recipients, secret)
        again.append(time.process_time() - started)
    return {"first_trace_cpu_ms": first * 1000, "trace_cpu_ms": statistics.median(again) * 1000}


def drafts_bench(trials: int, seed: int, workers: int, collusion_only: bool = False) -> dict[str, object]:
    todo: list[tuple[int, ...]] = []
    if not collusion_only:
        todo += [(words, kind, trials, seed) for kind in ("one-version", "two-versions") for words in (250, 500, 1000, 2000)]
        todo += [(words, "3-colluders", trials, seed) for words in (2000, 5000)]
    else:  # how many words three colluders' drafts take: an agreement of 40 articles (about 11,000 words)
        todo += [(words, "3-colluders", trials, seed, 40) for words in (5000, 7500, 10000)]
    if collusion_only:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(run_draft_cell, todo))
        return {"rows": rows, "innocents_scored": sum(r["innocents_scored"] for r in rows),
                "false_accusations": sum(r["false_accusations"] for r in rows)}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(run_draft_cell, todo))
    return {"rows": rows, "noise": draft_noise(), "timing": draft_timing(),
            "innocents_scored": sum(r["innocents_scored"] for r in rows),
            "false_accusations": sum(r["false_accusations"] for r in rows)}


def timing(repeats: int = 5) -> dict[str, float]:
    """Trace time among 1,000 recipients of a 1,000-word excerpt (first trace of a document, then again)."""
    doc = _doc("dense")
    recipients = [f"recipient-{i:04d}" for i in range(N)]
    secret = TracingSecret.from_seed(hashlib.sha256(b"timing").digest(), N, EPSILON)
    copy = make_copy(doc, document_code(secret, doc.canonical), recipients[17])
    start, end = words_span(copy, 1000, random.Random(5))  # noqa: S311 - simulation
    leak = copy[start:end]
    from parley.tracing.trace import _wording_master

    _wording_master.cache_clear()
    started = time.process_time()
    trace(leak, doc, recipients, secret)
    first = time.process_time() - started
    again = []
    for _ in range(repeats):
        started = time.process_time()
        trace(leak, doc, recipients, secret)
        again.append(time.process_time() - started)
    return {"first_trace_cpu_ms": first * 1000, "trace_cpu_ms": statistics.median(again) * 1000,
            "document_words": len(doc.canonical.split())}


def cells(trials: int, quick: bool, innocents: int, seed: int, goal_trials: int) -> list[tuple[str, int, int, str, int, int, int]]:
    """The table's cells; the acceptance goals' cells (one leaker, 1,000 words, in the dense and the medium
    wording; three colluders, 5,000 words) get ``goal_trials`` trials."""
    lengths = (500, 1000, 2000) if quick else (250, 500, 1000, 2000, 5000)
    out = []
    for kind in ("dense", "medium"):
        for words in lengths:
            for attack in ("none", "retyped"):
                count = goal_trials if words == 1000 else trials
                out.append((kind, words, 1, attack, count, innocents if words == 1000 else 0, seed))
    for words in lengths:
        out.append(("medium", words, 1, "whitespace", trials, 0, seed))
        for attack in ("zw-swapped", "zw-randomised", "skeleton+format-stripped"):
            out.append(("invisible", words, 1, attack, trials, 0, seed))
        out.append(("plain", words * 4, 1, "normalised", trials, 0, seed))
        out.append(("plain", words * 4, 1, "none", trials, 0, seed))
    collusion_lengths = (2000, 5000) if quick else (1000, 2000, 5000, 10000)
    for colluders in (2, 3):
        for words in collusion_lengths:
            for strategy in ("interleave", "majority", "random-differing", "delete-differing"):
                count = goal_trials if (colluders, words) == (3, 5000) else trials
                out.append(("dense", words, colluders, strategy, count, innocents if words == 5000 else 0, seed))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few trials per cell")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--trials", type=int, default=None, help="trials per cell (default 100, quick 4)")
    parser.add_argument("--goal-trials", type=int, default=None,
                        help="trials of the acceptance-goal cells (default 200, quick as --trials)")
    parser.add_argument("--innocents", type=int, default=None,
                        help="extra innocent codewords per 1,000-word single and 5,000-word collusion cell")
    parser.add_argument("--ocr", type=int, default=0, help="OCR trials (Tesseract; ~25 s each here)")
    parser.add_argument("--only-ocr", action="store_true", help="run the OCR trials only")
    parser.add_argument("--only-timing", action="store_true", help="time one trace among 1,000 recipients only")
    parser.add_argument("--only-single", action="store_true",
                        help="one leaker only, the dense and medium documents (untouched and retyped excerpts)")
    parser.add_argument("--only-attacks", action="store_true",
                        help="one leaker only, the attacks on the layers (whitespace, invisible marks, normalised wording)")
    parser.add_argument("--only-collusion", action="store_true",
                        help="the collusion cells only (2 and 3 colluders), each traced with the reading's threshold "
                             "and, side by side, with the worst-case one")
    parser.add_argument("--only-drafts", action="store_true",
                        help="agreement drafts only: a leak of N words of one version, of two versions of one "
                             "reader, of three colluders' copies; and the variant noise in a reader's redline")
    parser.add_argument("--only-draft-collusion", action="store_true",
                        help="three colluders' drafts only, of an agreement of 40 articles: 5,000 to 10,000 words")
    parser.add_argument("--ocr-pages", type=int, default=1, help="pages per OCR trial (screenshots traced together)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args(argv)
    trials = opts.trials or (4 if opts.quick else 30)
    goal_trials = opts.goal_trials or (trials if opts.quick else 200)
    innocents = opts.innocents if opts.innocents is not None else (400 if opts.quick else 20000)
    started = time.perf_counter()
    if opts.only_timing:
        print(json.dumps(timing(), indent=2))
        return 0
    if opts.only_draft_collusion:
        result = {"command": "bench/bench_tracing.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "epsilon": EPSILON, "n": N, "trials": trials,
                  **drafts_bench(trials, opts.seed, opts.workers, collusion_only=True),
                  "wall_s": time.perf_counter() - started}
        print(f"# {result['command']}  (n={N}, epsilon={EPSILON}, {trials} trials per cell, {result['wall_s']:.0f} s)")
        print(f"{'articles':>8} {'words':>6} {'detected':>8} {'false':>5} {'symbols':>7}")
        for r in result["rows"]:
            print(f"{r['articles']:>8} {r['words']:>6} {r['detection_rate']:>8.0%} {r['false_accusations']:>5} "
                  f"{r['median_symbols']:>7.0f}")
        print(f"innocent codewords scored: {result['innocents_scored']}, false accusations: {result['false_accusations']}")
        return 0
    if opts.only_drafts:
        result = {"command": "bench/bench_tracing.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "epsilon": EPSILON, "n": N, "trials": trials, **drafts_bench(trials, opts.seed, opts.workers),
                  "wall_s": time.perf_counter() - started}
        if opts.json:
            print(json.dumps(result, indent=2))
            return 0
        print(f"# {result['command']}  (n={N}, epsilon={EPSILON}, {trials} trials per cell, {result['wall_s']:.0f} s)")
        noise = result["noise"]
        print(f"draft: {noise['draft_words']} words, {noise['slots_per_version']:.0f} slots per version; variant noise "
              f"in a reader's redline (unchanged sentences shown changed): one code per agreement "
              f"{noise['noise_one_code_per_agreement']:.1%}, one code per version {noise['noise_one_code_per_version']:.1%}")
        print(f"trace of 1,000 words among {N} recipients, three versions: {result['timing']['first_trace_cpu_ms']:.0f} ms "
              f"CPU the first time, {result['timing']['trace_cpu_ms']:.0f} ms after")
        print(f"{'words':>6} {'leak':<13} {'detected':>8} {'false':>5} {'symbols':>7} {'version named':>13}")
        for r in result["rows"]:
            named = f"{r['version_named']:.0%}" if "version_named" in r else "-"
            print(f"{r['words']:>6} {r['leak']:<13} {r['detection_rate']:>8.0%} {r['false_accusations']:>5} "
                  f"{r['median_symbols']:>7.0f} {named:>13}")
        print(f"innocent codewords scored: {result['innocents_scored']}, false accusations: {result['false_accusations']}")
        return 0
    if opts.only_ocr:
        result = {"command": "bench/bench_tracing.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "ocr": ocr_trials(opts.ocr or 5, opts.seed, opts.ocr_pages)}
        print(json.dumps(result, indent=2))
        return 0
    todo = cells(trials, opts.quick, innocents, opts.seed, goal_trials)
    if opts.only_collusion:
        todo = [cell for cell in todo if cell[2] > 1]
    if opts.only_attacks:
        todo = [cell for cell in todo if cell[2] == 1 and (cell[0] in ("invisible", "plain") or cell[3] == "whitespace")]
    if opts.only_single:
        todo = [cell for cell in todo if cell[2] == 1 and cell[0] in ("dense", "medium") and cell[3] != "whitespace"]
    with ProcessPoolExecutor(max_workers=opts.workers) as pool:
        rows = list(pool.map(run_cell, todo))
    docs = {kind: _doc(kind) for kind in ("dense", "medium", "plain")}
    result = {
        "command": "bench/bench_tracing.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "epsilon": EPSILON, "n": N, "trials": trials, "goal_trials": goal_trials,
        "documents": {
            kind: {**capacity(doc), "changed_word_share": statistics.mean(
                changed_word_share(doc.canonical, make_copy(doc, document_code(
                    TracingSecret.from_seed(bytes([i]) * 32, N), doc.canonical), "r")) for i in range(5))}
            for kind, doc in docs.items()
        },
        "rows": rows,
        "innocents_scored": sum(r["innocents_scored"] + r["extra_innocents"] for r in rows),
        "false_accusations": sum(r["false_accusations"] + r["extra_false_accusations"] for r in rows),
    }  # fmt: skip
    if opts.ocr:
        result["ocr"] = ocr_trials(opts.ocr, opts.seed, opts.ocr_pages)
    result["wall_s"] = time.perf_counter() - started
    if opts.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"# {result['command']}  (n={N}, epsilon={EPSILON}, {trials} trials per cell, {result['wall_s']:.0f} s)")
    for kind, d in result["documents"].items():
        print(f"document {kind}: {d['slots_per_1000_words']:.0f} slots per 1,000 words, "
              f"{d['changed_word_share']:.1%} of words differ from the canonical text")  # fmt: skip
    print(f"{'document':<9} {'words':>6} {'c':>2} {'attack':<25} {'detected':>8} {'false':>5} {'symbols':>7} {'tamper':>6}"
          f" {'worst-case threshold: detected':>31}")
    for r in rows:
        print(f"{r['document']:<9} {r['words']:>6} {r['colluders']:>2} {r['attack']:<25} {r['detection_rate']:>8.0%} "
              f"{r['false_accusations'] + r['extra_false_accusations']:>5} {r['median_symbols']:>7.0f} "
              f"{r['tampering_reported']:>6.0%} {r['detection_rate_worst_case_threshold']:>31.0%}")  # fmt: skip
    print(f"innocent codewords scored: {result['innocents_scored']}, false accusations: {result['false_accusations']}")
    if "ocr" in result:
        o = result["ocr"]
        print(f"OCR of screenshots of {o['pages']} page(s) ({o['words_read']} words, {o['slots_per_1000_words']:.0f} slots per 1,000 "
              f"words): detected {o['detection_rate']:.0%} of {o['trials']}, false {o['false_accusations']}, "
              f"{o['median_symbols']} symbols read of {o['median_located']} located, OCR {o['median_ocr_s']:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
