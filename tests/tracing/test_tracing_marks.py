"""The invisible layers (opt-in): exact un-marking, and where marks may never go."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.errors import InputError
from parley.tracing import TracedText, TracingSecret, capacity, make_copies, unmark
from parley.tracing.marks import CYRILLIC_TO_LATIN, LATIN_TO_CYRILLIC, ZERO_WIDTH, scan
from parley.tracing.sample import english_memo, russian_memo

SECRET = TracingSecret.from_seed(bytes(range(32)), 8)


def _invisible(text: str, terms: tuple[str, ...] = ()) -> TracedText:
    """The text with the invisible layers only (no wording variants)."""
    return TracedText(text, (), True, terms)

_CHUNKS = [
    "the ", "contract ", "Price ", "paid ", "Alice Martin ", "said: ", "\"Services\" ", "1,250,000 ",
    "https://example.org/a?b=c ", "legal@example.com ", "договор ", "цена ", "Москва ", "\u0441at ",
    "c\u0430t ", "\u200b", " \u200c", "\u200d", "\ufeff", "\u2060", " ", "  ", "\n", "\n\n", ". ", ", ",
    "e\u0301 ", "caf\u00e9 ", "\u00ab\u0442\u0435\u0440\u043c\u0438\u043d\u00bb ", "x2 ", "ﬁle ", "İstanbul ",
    "\u0456\u0458\u0455 ", "ASAP ", "The ", "THE ", "smile \U0001f468\u200d\U0001f469 ",
]  # fmt: skip
texts = st.lists(st.one_of(st.sampled_from(_CHUNKS), st.text(max_size=6)), max_size=40).map("".join)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_unmark_restores_any_canonical_text_exactly(raw: str) -> None:
    canonical = unmark(raw)
    assert unmark(canonical) == canonical  # idempotent: every unmarked text is mark-free
    copies = make_copies(_invisible(canonical), ["alice", "bob", "carol"], SECRET)
    for copy in copies.values():
        assert unmark(copy) == canonical


@settings(max_examples=150, deadline=None)
@given(texts)
def test_text_that_unmark_would_alter_is_refused_not_silently_changed(raw: str) -> None:
    if unmark(raw) == raw:
        make_copies(_invisible(raw), ["alice"], SECRET)
    else:
        with pytest.raises(InputError):
            make_copies(_invisible(raw), ["alice"], SECRET)


def test_text_with_marks_in_it_is_refused() -> None:
    for bad in ("a word \u200bafter", "a c\u0430t here", "\u0441o\u0431\u0430\u043a\u0430"):
        with pytest.raises(InputError):
            make_copies(_invisible(bad), ["alice"], SECRET)


def test_copies_carry_marks_and_differ_between_recipients() -> None:
    text = english_memo(3000, seed=3)
    copies = make_copies(_invisible(text), ["alice", "bob"], SECRET)
    assert copies["alice"] != text and copies["bob"] != text and copies["alice"] != copies["bob"]
    assert any(ch in ZERO_WIDTH for ch in copies["alice"])
    assert any(ch in CYRILLIC_TO_LATIN for ch in copies["alice"])


def test_marks_never_go_inside_numbers_names_defined_terms_or_urls() -> None:
    protected = [
        "EUR 1,250,000", "Section 4.2", "7(b)", "https://example.org/terms", "legal@example.com",
        "Alice Martin", "Northwind Ltd", '"Confidential Information"', "Purchase Price", "3.5%", "www.example.com",
    ]  # fmt: skip
    body = (
        "the parties agree that payment of EUR 1,250,000 is due under Section 4.2 and clause 7(b) as "
        "set out at https://example.org/terms or legal@example.com and that Alice Martin of Northwind "
        'Ltd keeps the "Confidential Information" secret. the Purchase Price rises by 3.5% per year '
        "as posted at www.example.com for the seller and the buyer. "
    )
    text = body * 6
    copies = make_copies(_invisible(text, ("Purchase Price",)), [f"r{i}" for i in range(8)], SECRET)
    for copy in copies.values():
        assert copy != text
        for item in protected:
            assert copy.count(item) == text.count(item), item


def test_sentence_initial_common_words_are_marked_but_names_are_not() -> None:
    text = "The seller agrees. The buyer accepts the terms. Okafor accepts the terms too. " * 4
    layout = scan(text)
    marked_letters = {q for a, b in layout.carriers if b >= 0 for q in (a, b)}
    assert any(text[q] == "T" for q in marked_letters)
    okafor = [i for i in range(len(text)) if text.startswith("Okafor", i)]
    assert not marked_letters & {q for i in okafor for q in range(i, i + 6)}


def test_cyrillic_text_is_marked_with_latin_letters() -> None:
    text = russian_memo(3000, seed=2)
    copy = make_copies(_invisible(text), ["alice"], SECRET)["alice"]
    swapped = [
        c for c, t in zip(copy.replace("\u200b", "").replace("\u200c", ""), text, strict=False) if c != t
    ]
    assert swapped and all(c in LATIN_TO_CYRILLIC for c in swapped)
    assert unmark(copy) == text


def test_unicode_normalisation_keeps_the_marks() -> None:
    text = english_memo(3000, seed=4)
    copy = make_copies(_invisible(text), ["alice"], SECRET)["alice"]
    for form in ("NFC", "NFKC"):
        assert unicodedata.normalize(form, copy) == copy


def test_capacity_is_reported_per_thousand_characters() -> None:
    cap = capacity(_invisible(english_memo(10000, seed=5)))
    assert cap["symbols"] == cap["pairs"] + cap["gaps"]
    assert 200 < cap["per_1000_chars"] < 450
    assert capacity(_invisible(""))["symbols"] == 0
