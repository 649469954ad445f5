"""Attacks on marked copies, for the tests and the benchmark (not used by tracing itself).

Copies are handled as *cells*: one string per canonical character (``embed_cells``), so the
colluders' copies line up character by character, as they would for people comparing them.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

from parley.errors import InputError
from parley.tracing.code import DocumentCode
from parley.tracing.marks import Layout, embed_cells, strip_zero_width
from parley.tracing.trace import carrier_symbols

SINGLE_ATTACKS: dict[str, Callable[[str], str]] = {
    "none": lambda text: text,
    "nfc": lambda text: unicodedata.normalize("NFC", text),
    "nfkc": lambda text: unicodedata.normalize("NFKC", text),
    "zw-stripped": strip_zero_width,
}
COLLUSION_STRATEGIES = ("interleave", "majority", "strip-differing")


def copy_cells(canonical: str, layout: Layout, code: DocumentCode, recipient: str) -> list[str]:
    """The recipient's copy as one string per canonical character."""
    return embed_cells(canonical, layout, carrier_symbols(code, layout, code.codeword(recipient)))


def excerpt_span(text: str, length: int, rng: random.Random) -> tuple[int, int]:
    """A random span of about ``length`` characters starting and ending at word boundaries."""
    if length >= len(text):
        return 0, len(text)
    start = rng.randrange(0, len(text) - length)
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    end = start + length
    while end > start and end < len(text) and not text[end].isspace():
        end -= 1
    return start, end


def collude(
    copies: Sequence[list[str]], canonical: str, span: tuple[int, int], strategy: str, rng: random.Random
) -> str:
    """The leak the colluders build from their copies' cells over ``span``.

    interleave: runs of 20-200 characters (cut at spaces) taken from each copy in turn;
    majority: character by character the most common variant, ties broken at random;
    strip-differing: wherever the copies differ the unmarked character is put back.

    Raises InputError for an unknown strategy.
    """
    start, end = span
    out: list[str] = []
    if strategy == "interleave":
        i, who = start, 0
        while i < end:
            j = min(end, i + rng.randint(20, 200))
            while j < end and canonical[j] != " ":
                j += 1
            out.extend(copies[who % len(copies)][i:j])
            i, who = j, who + 1
    elif strategy == "majority":
        for i in range(start, end):
            variants = Counter(c[i] for c in copies)
            if len(variants) == 1:
                out.append(copies[0][i])
                continue
            top = max(variants.values())
            out.append(rng.choice(sorted(v for v, n in variants.items() if n == top)))
    elif strategy == "strip-differing":
        for i in range(start, end):
            cell = copies[0][i]
            out.append(cell if all(c[i] == cell for c in copies) else canonical[i])
    else:
        raise InputError(f"unknown strategy {strategy!r}")
    return "".join(out)


def reorder_and_edit(text: str, rng: random.Random, edits: int = 5) -> str:
    """Shuffle the paragraphs, then delete or change a few words (a lightly edited leak)."""
    paragraphs = text.split("\n\n")
    rng.shuffle(paragraphs)
    words = "\n\n".join(paragraphs).split(" ")
    for _ in range(edits):
        k = rng.randrange(len(words))
        if rng.random() < 0.5:
            del words[k]
        else:
            words[k] = "changed"
    return " ".join(words)
