"""Tracing leaks: who is caught, and that innocents are never accused."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime

import pytest

from parley.errors import InputError
from parley.tracing import TracingSecret, make_copies, trace, visible_mark, with_visible_mark
from parley.tracing.code import threshold
from parley.tracing.marks import fold_homoglyphs, scan, strip_zero_width
from parley.tracing.sample import english_memo, russian_memo
from parley.tracing.simulate import SINGLE_ATTACKS, collude, copy_cells, excerpt_span, reorder_and_edit
from parley.tracing.trace import _document, read_leak

TEXT = english_memo(20000, seed=11)
LAYOUT = scan(TEXT)
N = 100
RECIPIENTS = [f"recipient-{i:03d}" for i in range(N)]


def _secret(tag: str, n: int = N) -> TracingSecret:
    return TracingSecret.from_seed(hashlib.sha256(tag.encode()).digest(), n)


def _leak(tag: str, guilty: list[str], length: int, how: str, text: str = TEXT) -> tuple[str, TracingSecret]:
    rng = random.Random(tag)
    secret = _secret(tag)
    code = _document(secret, text)
    layout = LAYOUT if text is TEXT else scan(text)
    copies = [copy_cells(text, layout, code, r) for r in guilty]
    span = excerpt_span(text, length, rng)
    if how in SINGLE_ATTACKS:
        return SINGLE_ATTACKS[how]("".join(copies[0][span[0] : span[1]])), secret
    return collude(copies, text, span, how, rng), secret


@pytest.mark.parametrize("trial", range(4))
def test_leak_by_single_recipient_is_traced(trial: int) -> None:
    rng = random.Random(trial)
    leaker = rng.choice(RECIPIENTS)
    leak, secret = _leak(f"single-{trial}", [leaker], 1000, "none")
    report = trace(leak, TEXT, RECIPIENTS, secret)
    assert [a.recipient for a in report.accused] == [leaker]
    assert report.accused[0].score >= report.threshold
    assert report.accused[0].p_bound < 1e-6


def test_leak_of_cyrillic_text_is_traced() -> None:
    text = russian_memo(12000, seed=3)
    leak, secret = _leak("russian", ["recipient-007"], 1000, "none", text)
    assert [a.recipient for a in trace(leak, text, RECIPIENTS, secret).accused] == ["recipient-007"]


@pytest.mark.parametrize("attack", ["nfc", "nfkc", "zw-stripped"])
def test_normalising_or_stripping_zero_width_does_not_frame_innocents(attack: str) -> None:
    for trial in range(3):
        leak, secret = _leak(f"{attack}-{trial}", ["recipient-042"], 1000, attack)
        report = trace(leak, TEXT, RECIPIENTS, secret)
        # normalisation leaves our marks alone; stripping erases half of them, the rest still convict
        assert [a.recipient for a in report.accused] == ["recipient-042"]


@pytest.mark.parametrize("strategy", ["interleave", "majority", "strip-differing"])
@pytest.mark.parametrize("colluders", [2, 3])
def test_colluders_mixing_copies_cannot_frame_an_innocent(colluders: int, strategy: str) -> None:
    caught = 0
    trials = 3
    for trial in range(trials):
        guilty = random.Random(f"{strategy}{colluders}{trial}").sample(RECIPIENTS, colluders)
        leak, secret = _leak(f"{strategy}-{colluders}-{trial}", guilty, 5000, strategy)
        report = trace(leak, TEXT, RECIPIENTS, secret)
        accused = {a.recipient for a in report.accused}
        assert accused <= set(guilty)
        caught += bool(accused)
    assert caught == trials


def test_colluders_stripping_differing_positions_cannot_frame_innocent() -> None:
    guilty = ["recipient-001", "recipient-002", "recipient-003"]
    leak, secret = _leak("strip-3", guilty, 1000, "strip-differing")
    assert {a.recipient for a in trace(leak, TEXT, RECIPIENTS, secret).accused} <= set(guilty)


def test_leak_with_reordered_paragraphs_and_small_edits_is_traced() -> None:
    secret = _secret("reorder")
    copy = make_copies(TEXT, ["recipient-005", "recipient-006"], secret)["recipient-005"]
    start = copy.index("\n\n", 4000)
    leak = reorder_and_edit(copy[start : start + 2500], random.Random(3), edits=8)
    report = trace(leak, TEXT, RECIPIENTS, secret)
    assert [a.recipient for a in report.accused] == ["recipient-005"]


def test_twenty_thousand_innocent_codewords_never_reach_the_threshold() -> None:
    for how, guilty in (
        ("none", ["recipient-009"]),
        ("majority", ["recipient-001", "recipient-002", "recipient-003"]),
    ):
        leak, secret = _leak(f"innocents-{how}", guilty, 2000, how)
        reading = read_leak(leak, TEXT, secret)
        z = threshold(reading.scorer.symbols, N, secret.params.epsilon, secret.params.biases)
        best = max(reading.scorer.score(reading.code.codeword(f"innocent-{k}")) for k in range(10000))
        assert best < z


def test_unrelated_text_gives_no_accusation() -> None:
    other = english_memo(3000, seed=999)
    report = trace(other, TEXT, RECIPIENTS, _secret("unrelated"))
    assert report.accused == []
    assert "no accusation" in report.to_text()
    assert report.to_json()["verdict"] == "no accusation"


def test_fully_scrubbed_leak_gives_no_accusation() -> None:
    # the honest limit: folding homoglyphs (TR39 skeleton) and stripping zero-width erase everything
    leak, secret = _leak("scrubbed", ["recipient-010"], 3000, "none")
    report = trace(fold_homoglyphs(strip_zero_width(leak)), TEXT, RECIPIENTS, secret)
    assert report.symbols_read == 0 and report.accused == []
    assert report.to_json()["threshold"] is None


def test_report_names_the_visible_copy_line_and_serialises() -> None:
    secret = _secret("visible")
    copy = make_copies(TEXT, ["recipient-004"], secret)["recipient-004"]
    line = visible_mark("Jonas Weber", "Acme Holdings", datetime(2025, 3, 1, 9, 30, tzinfo=UTC), 4)
    report = trace(with_visible_mark(copy[:1500], line), TEXT, RECIPIENTS, secret)
    assert report.visible_mark == line
    assert [a.recipient for a in report.accused] == ["recipient-004"]
    data = json.loads(report.to_json_text())
    assert data["verdict"] == "accusation" and data["accused"][0]["recipient"] == "recipient-004"
    assert "ACCUSED recipient-004" in report.to_text()


def test_trace_among_a_thousand_recipients_accuses_only_the_leaker() -> None:
    # How long this takes is measured by bench/bench_tracing.py, not asserted here.
    recipients = [f"r{i}" for i in range(1000)]
    secret = _secret("speed", 1000)
    copy = make_copies(TEXT, ["r500"], secret)["r500"]
    report = trace(copy[8000:13000], TEXT, recipients, secret)
    assert [a.recipient for a in report.accused] == ["r500"]


def test_bad_recipient_lists_are_refused() -> None:
    secret = _secret("bad", 3)
    for bad in ([], ["a", "a"], ["a", ""], "abc", ["a", "b", "c", "d"]):
        with pytest.raises(InputError):
            make_copies(TEXT, bad, secret)
    with pytest.raises(InputError):
        trace(TEXT, TEXT, [], secret)
    with pytest.raises(InputError):
        trace(b"bytes", TEXT, ["a"], secret)  # type: ignore[arg-type]


@pytest.mark.parametrize("scrub", [strip_zero_width, fold_homoglyphs])
def test_stripping_marks_erases_symbols_and_never_flips_them(scrub) -> None:  # type: ignore[no-untyped-def]
    from parley.tracing.align import Master, read_excerpt

    leak, _ = _leak("erase", ["recipient-012"], 3000, "none")
    master = Master(TEXT, LAYOUT)
    before = dict(read_excerpt(leak, master).symbols)
    after = dict(read_excerpt(scrub(leak), master).symbols)
    assert 0 < len(after) < len(before)
    assert all(before[k] == bit for k, bit in after.items())
