"""Attacks by a leaker who has read the tracing code: each test is named after the attack it stops."""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata

import pytest

from parley.tracing import TracedText, TracingSecret, make_copies, trace
from parley.tracing.document import changed_word_share, document_code
from parley.tracing.marks import fold_homoglyphs
from parley.tracing.sample import english_memo, english_memo_with_alternatives
from parley.tracing.simulate import (
    copy_cells,
    normalise_wording,
    randomise_zero_width,
    retype,
    strip_format,
    swap_zero_width,
    words_span,
)

SOURCE = english_memo_with_alternatives(30000, seed=5, share=0.6)
DOC = TracedText.prepare(SOURCE)
INVISIBLE = TracedText.prepare(SOURCE, invisible=True)
N = 200
RECIPIENTS = [f"recipient-{i:03d}" for i in range(N)]


def _copy_excerpt(tag: str, leaker: str, words: int, doc: TracedText) -> tuple[str, TracingSecret]:
    secret = TracingSecret.from_seed(hashlib.sha256(tag.encode()).digest(), N)
    cells = copy_cells(doc, document_code(secret, doc.canonical), leaker)
    start, end = words_span(doc.canonical, words, random.Random(tag))
    return "".join(cells[start:end]), secret


def _accused(leak: str, doc: TracedText, secret: TracingSecret) -> list[str]:
    return [a.recipient for a in trace(leak, doc, RECIPIENTS, secret).accused]


def test_default_copy_has_no_mixed_script_words_or_invisible_characters() -> None:
    secret = TracingSecret.from_seed(bytes(32), N)
    copy = make_copies(DOC, ["recipient-001"], secret)["recipient-001"]
    assert not any(unicodedata.category(ch) == "Cf" for ch in copy)
    for word in re.findall(r"\w+", copy):
        scripts = {unicodedata.name(ch).split()[0] for ch in word if ch.isalpha()}
        assert len(scripts) <= 1, word
    # the copy still differs from the canonical text, in a few whole words only
    assert 0 < changed_word_share(DOC.canonical, copy) <= 0.05


def test_zero_width_swap_does_not_hide_leaker() -> None:
    # one str.translate swapping U+200B and U+200C used to push the leaker's score below the threshold
    leak, secret = _copy_excerpt("swap", "recipient-017", 300, INVISIBLE)
    report = trace(swap_zero_width(leak), INVISIBLE, RECIPIENTS, secret)
    assert [a.recipient for a in report.accused] == ["recipient-017"]
    assert any("zero-width layer reads inverted" in note for note in report.tampering)


def test_zero_width_randomised_does_not_hide_leaker() -> None:
    leak, secret = _copy_excerpt("random", "recipient-018", 2000, INVISIBLE)
    assert _accused(randomise_zero_width(leak, random.Random(1)), INVISIBLE, secret) == ["recipient-018"]


def test_lookalike_folding_and_format_stripping_do_not_hide_leaker() -> None:
    # a TR39 skeleton plus removal of every format character used to leave nothing to trace
    leak, secret = _copy_excerpt("skeleton", "recipient-019", 2000, INVISIBLE)
    report = trace(strip_format(fold_homoglyphs(leak)), INVISIBLE, RECIPIENTS, secret)
    assert [a.recipient for a in report.accused] == ["recipient-019"]
    assert any(note.startswith("marks scrubbed: zero-width") for note in report.tampering)
    assert any(note.startswith("marks scrubbed: look-alike") for note in report.tampering)


def test_retyped_excerpt_with_typos_and_new_line_breaks_is_traced() -> None:
    leak, secret = _copy_excerpt("retype", "recipient-020", 2000, DOC)
    assert _accused(retype(leak, random.Random(2), typo_rate=0.02), DOC, secret) == ["recipient-020"]


@pytest.mark.parametrize("tamper", ["swap", "randomise", "strip"])
def test_tampering_with_invisible_marks_never_accuses_an_innocent(tamper: str) -> None:
    attacks = {
        "swap": swap_zero_width,
        "randomise": lambda t: randomise_zero_width(t, random.Random(5)),
        "strip": lambda t: strip_format(fold_homoglyphs(t)),
    }
    for trial in range(6):
        leaker = f"recipient-{trial * 7:03d}"
        leak, secret = _copy_excerpt(f"{tamper}-{trial}", leaker, 400, INVISIBLE)
        assert set(_accused(attacks[tamper](leak), INVISIBLE, secret)) <= {leaker}


def test_normalising_the_automatic_wording_is_reported_and_author_wording_still_convicts() -> None:
    leak, secret = _copy_excerpt("normalise", "recipient-021", 3000, DOC)
    report = trace(normalise_wording(leak, DOC), DOC, RECIPIENTS, secret)
    assert any(note.startswith("wording normalised") for note in report.tampering)
    assert [a.recipient for a in report.accused] == ["recipient-021"]


def test_normalising_automatic_wording_without_author_alternatives_accuses_nobody() -> None:
    plain = TracedText.prepare(english_memo(30000, seed=5))
    leak, secret = _copy_excerpt("normalise-plain", "recipient-022", 4000, plain)
    report = trace(normalise_wording(leak, plain), plain, RECIPIENTS, secret)
    assert report.accused == []
    assert any(note.startswith("wording normalised") for note in report.tampering)
