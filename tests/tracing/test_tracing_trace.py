"""Tracing leaks through the wording layer: who is caught, and that innocents are never accused."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime

import pytest

from parley.errors import InputError
from parley.tracing import TracedText, TracingSecret, make_copies, trace, visible_mark, with_visible_mark
from parley.tracing.code import reading_threshold, threshold
from parley.tracing.document import document_code
from parley.tracing.marks import scan
from parley.tracing.sample import english_memo, english_memo_with_alternatives, russian_memo
from parley.tracing.simulate import SINGLE_ATTACKS, collude, copy_cells, reorder_and_edit, words_span
from parley.tracing.trace import read_leak

SOURCE = english_memo_with_alternatives(30000, seed=11, share=0.6)
DOC = TracedText.prepare(SOURCE)
N = 100
RECIPIENTS = [f"recipient-{i:03d}" for i in range(N)]


def _secret(tag: str, n: int = N) -> TracingSecret:
    return TracingSecret.from_seed(hashlib.sha256(tag.encode()).digest(), n)


def _leak(tag: str, guilty: list[str], words: int, how: str, doc: TracedText = DOC) -> tuple[str, TracingSecret]:
    rng = random.Random(tag)
    secret = _secret(tag)
    code = document_code(secret, doc.canonical)
    copies = [copy_cells(doc, code, r) for r in guilty]
    span = words_span(doc.canonical, words, rng)
    if how in SINGLE_ATTACKS:
        return SINGLE_ATTACKS[how]("".join(copies[0][span[0] : span[1]])), secret
    return collude(copies, doc.canonical, span, how, rng), secret


@pytest.mark.parametrize("trial", range(4))
def test_leak_by_single_recipient_is_traced(trial: int) -> None:
    rng = random.Random(trial)
    leaker = rng.choice(RECIPIENTS)
    leak, secret = _leak(f"single-{trial}", [leaker], 2000, "none")
    report = trace(leak, DOC, RECIPIENTS, secret)
    assert [a.recipient for a in report.accused] == [leaker]
    assert report.accused[0].score >= report.threshold
    assert report.accused[0].p_bound < 1e-6
    assert report.accused[0].layer == "wording"


def test_leak_of_cyrillic_text_is_traced_by_the_invisible_layers_when_on() -> None:
    # automatic wording variants are English only: a Russian text is traced by what its author
    # writes as alternatives, or by the opt-in invisible layers
    doc = TracedText(russian_memo(12000, seed=3), (), True)
    leak, secret = _leak("russian", ["recipient-007"], 200, "none", doc)
    assert [a.recipient for a in trace(leak, doc, RECIPIENTS, secret).accused] == ["recipient-007"]


@pytest.mark.parametrize("strategy", ["interleave", "majority", "random-differing", "delete-differing"])
@pytest.mark.parametrize("colluders", [2, 3])
def test_colluders_mixing_copies_cannot_frame_an_innocent(colluders: int, strategy: str) -> None:
    for trial in range(2):
        guilty = random.Random(f"{strategy}{colluders}{trial}").sample(RECIPIENTS, colluders)
        leak, secret = _leak(f"{strategy}-{colluders}-{trial}", guilty, 5000, strategy)
        report = trace(leak, DOC, RECIPIENTS, secret)
        assert {a.recipient for a in report.accused} <= set(guilty)


def test_two_colluders_interleaving_whole_copies_are_caught() -> None:
    guilty = ["recipient-001", "recipient-002"]
    leak, secret = _leak("pair", guilty, 5000, "interleave")
    accused = {a.recipient for a in trace(leak, DOC, RECIPIENTS, secret).accused}
    assert accused and accused <= set(guilty)


@pytest.fixture(scope="module")
def dense_document() -> TracedText:
    """90,000 characters with the author's alternatives on 80 % of the words that have one (bench's "dense")."""
    return TracedText.prepare(english_memo_with_alternatives(90000, seed=7, share=0.8))


@pytest.mark.parametrize("how", ["interleave", "majority", "random-differing"])
def test_three_colluders_comparing_copies_are_caught(dense_document: TracedText, how: str) -> None:
    """Among 1,000 readers, from 4,000 words (short of the 5,000 where 94-96 % are caught): more than half of
    ten such leaks name a colluder (the threshold of the reading; with the worst-case threshold about a
    third did), and none names an innocent."""
    readers = [f"reader-{i:04d}" for i in range(1000)]
    caught = 0
    for trial in range(10):
        rng = random.Random(f"three-{how}-{trial}")
        guilty = rng.sample(readers, 3)
        secret = TracingSecret.from_seed(hashlib.sha256(f"three-{how}-{trial}".encode()).digest(), 1000)
        code = document_code(secret, dense_document.canonical)
        copies = [copy_cells(dense_document, code, r) for r in guilty]
        leak = collude(copies, dense_document.canonical, words_span(dense_document.canonical, 4000, rng), how, rng)
        accused = {a.recipient for a in trace(leak, dense_document, readers, secret).accused}
        assert accused <= set(guilty)
        caught += bool(accused)
    assert caught > 5


def test_leak_with_reordered_paragraphs_and_small_edits_is_traced() -> None:
    secret = _secret("reorder")
    copy = make_copies(DOC, ["recipient-005", "recipient-006"], secret)["recipient-005"]
    start = copy.index("\n\n", 2000)
    leak = reorder_and_edit(copy[start : start + 16000], random.Random(3), edits=8)
    report = trace(leak, DOC, RECIPIENTS, secret)
    assert [a.recipient for a in report.accused] == ["recipient-005"]


def test_twenty_thousand_innocent_codewords_never_reach_the_threshold() -> None:
    for how, guilty in (
        ("none", ["recipient-009"]),
        ("majority", ["recipient-001", "recipient-002", "recipient-003"]),
    ):
        leak, secret = _leak(f"innocents-{how}", guilty, 3000, how)
        reading = read_leak(leak, DOC, secret)
        z = reading_threshold(reading.scorer, N, secret.params.epsilon / 2)
        assert z <= threshold(reading.scorer.symbols, N, secret.params.epsilon / 2, secret.params.biases)
        best = max(reading.scorer.score(reading.code.codeword(f"innocent-{k}")) for k in range(10000))
        assert best < z


def test_unrelated_text_gives_no_accusation() -> None:
    other = english_memo(3000, seed=999)
    report = trace(other, DOC, RECIPIENTS, _secret("unrelated"))
    assert report.accused == []
    assert "no accusation" in report.to_text()
    assert report.to_json()["verdict"] == "no accusation"


def test_report_names_the_visible_copy_line_and_serialises() -> None:
    secret = _secret("visible")
    copy = make_copies(DOC, ["recipient-004"], secret)["recipient-004"]
    line = visible_mark("Jonas Weber", "Acme Holdings", datetime(2025, 3, 1, 9, 30, tzinfo=UTC), 4)
    report = trace(with_visible_mark(copy[:16000], line), DOC, RECIPIENTS, secret)
    assert report.visible_mark == line
    assert [a.recipient for a in report.accused] == ["recipient-004"]
    data = json.loads(report.to_json_text())
    assert data["verdict"] == "accusation" and data["accused"][0]["recipient"] == "recipient-004"
    assert data["layers"]["wording"]["read"] > 0
    assert "ACCUSED recipient-004" in report.to_text()


def test_trace_among_a_thousand_recipients_accuses_only_the_leaker() -> None:
    # How long this takes is measured by bench/bench_tracing.py, not asserted here.
    recipients = [f"r{i}" for i in range(1000)]
    secret = _secret("speed", 1000)
    copy = make_copies(DOC, ["r500"], secret)["r500"]
    report = trace(copy[4000:20000], DOC, recipients, secret)
    assert [a.recipient for a in report.accused] == ["r500"]


def test_bad_recipient_lists_are_refused() -> None:
    secret = _secret("bad", 3)
    for bad in ([], ["a", "a"], ["a", ""], "abc", ["a", "b", "c", "d"]):
        with pytest.raises(InputError):
            make_copies(DOC, bad, secret)
    with pytest.raises(InputError):
        trace(SOURCE, DOC, [], secret)
    with pytest.raises(InputError):
        trace(b"bytes", DOC, ["a"], secret)  # type: ignore[arg-type]


@pytest.mark.parametrize("scrub", ["zw-stripped", "skeleton"])
def test_stripping_invisible_marks_erases_symbols_and_never_flips_them(scrub: str) -> None:
    from parley.tracing.align import Master, read_excerpt

    doc = TracedText(english_memo(20000, seed=11), (), True)
    leak, _ = _leak("erase", ["recipient-012"], 500, "none", doc)
    master = Master(doc.canonical, scan(doc.canonical))
    before = dict(read_excerpt(leak, master).symbols)
    after = dict(read_excerpt(SINGLE_ATTACKS[scrub](leak), master).symbols)
    assert 0 < len(after) < len(before)
    assert all(before[k] == bit for k, bit in after.items())
