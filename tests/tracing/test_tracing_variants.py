"""Wording variants: the author's {a|b} alternatives, the safe automatic ones, previews and vetoes."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.errors import InputError
from parley.tracing import TracedText, TracingSecret, make_copies, parse_alternatives
from parley.tracing.sample import russian_memo
from parley.tracing.variants import automatic_slots, render

SECRET = TracingSecret.from_seed(hashlib.sha256(b"variants").digest(), 16)


def _forms(text: str) -> list[tuple[str, str, str]]:
    return [(s.kind, *s.alternatives) for s in TracedText.prepare(text).slots]


def test_author_alternatives_give_the_canonical_text_and_their_slots() -> None:
    canonical, slots = parse_alternatives(r"Pay {within thirty days|within 30 days} of the \{invoice\} {date}.")
    assert canonical == "Pay within thirty days of the {invoice} {date}."
    assert [(s.start, s.end, s.alternatives) for s in slots] == [(4, 22, ("within thirty days", "within 30 days"))]


@pytest.mark.parametrize("bad", ["{a|b|c}", "{|b}", "{a|a}", "{a| }"])
def test_malformed_alternatives_are_refused(bad: str) -> None:
    with pytest.raises(InputError):
        parse_alternatives(f"text {bad} text")


def test_automatic_variants_never_change_numbers_references_names_or_quotes() -> None:
    text = ('Under Article 5 the "Purchase Price" of 30 units rises within twenty four hours, see '
            "https://example.org/30-days, as the Organisation for Security and Co-operation decided on "
            "12 March 2025; the organisation pays 5 per cent within thirty days.")
    forms = _forms(text)
    assert ("date", "12 March 2025", "March 12, 2025") in forms
    assert ("percent", "5 per cent", "5%") in forms
    assert ("number", "thirty", "30") in forms
    assert ("spelling", "organisation", "organization") in forms
    changed = " ".join(f"{a} {b}" for _, a, b in forms)
    for untouched in ("Article", "Purchase", "twenty", "four", "example", "Organisation", "Co-operation", "30 units"):
        assert untouched not in changed, untouched


def test_non_english_text_gets_no_automatic_variants() -> None:
    assert automatic_slots(russian_memo(4000, seed=1)) == []
    assert automatic_slots("Ставка 5% годовых в течение 30 дней.") == []


def test_vetoed_variants_are_left_as_written_and_numbered_as_previewed() -> None:
    text = "Pay within thirty days, or 5 per cent, {as agreed|as settled}."
    full = TracedText.prepare(text)
    assert [line.split()[1] for line in full.preview_lines()] == ["number", "percent", "author"]
    vetoed = TracedText.prepare(text, vetoed=[2])
    assert [s.kind for s in vetoed.slots] == ["number", "author"]
    for copy in make_copies(vetoed, [f"r{i}" for i in range(16)], SECRET).values():
        assert "5 per cent" in copy
    with pytest.raises(InputError, match="no variant number 4"):
        TracedText.prepare(text, vetoed=[4])


def test_traced_text_round_trips_and_refuses_slots_that_do_not_fit() -> None:
    doc = TracedText.prepare("Pay {within thirty days|within 30 days} or 5 per cent.")
    assert TracedText.from_json(doc.to_json()) == doc
    data = doc.to_json()
    data["slots"][0][2] = "within forty days"
    with pytest.raises(InputError):
        TracedText.from_json(data)


_WORDS = st.sampled_from([
    "thirty", "30", "days", "5", "per", "cent", "%", "organisation", "towards", "co-operation", "and", "or",
    "12", "March", "2025", ",", ".", "the", "Article", '"term"', "{a|b}", "\u200b", "\n", "twenty", "four",
])  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(_WORDS, max_size=30).map(" ".join))
def test_every_copy_is_the_canonical_text_with_whole_slots_switched(raw: str) -> None:
    try:
        doc = TracedText.prepare(raw)
    except InputError:
        return
    assert render(doc.canonical, doc.slots, [0] * len(doc.slots)) == doc.canonical
    for copy in make_copies(doc, ["a", "b", "c"], SECRET).values():
        # no format character appears that the canonical text did not have
        added = {ch for ch in copy if unicodedata.category(ch) == "Cf"} - set(doc.canonical)
        assert not added
        assert copy in {render(doc.canonical, doc.slots, bits) for bits in _choices(len(doc.slots), copy, doc)}


def _choices(n: int, copy: str, doc: TracedText) -> list[list[int]]:
    # the copy's own choices, recovered slot by slot from left to right
    bits, pos, out = [], 0, 0
    for slot in doc.slots:
        pos_copy = out + (slot.start - pos)
        if copy.startswith(slot.alternatives[1], pos_copy) and not copy.startswith(slot.alternatives[0], pos_copy):
            bits.append(1)
            out = pos_copy + len(slot.alternatives[1])
        else:
            bits.append(0)
            out = pos_copy + len(slot.alternatives[0])
        pos = slot.end
    return [bits]
