"""Attacks on traced copies, for the tests and the benchmark (not used by tracing itself).

Copies are handled as *cells*: one string per canonical character (``copy_cells``), a whole
wording slot in the cell of its first character, so colluders' copies line up cell by cell,
as they would for people comparing them side by side.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

from parley.errors import InputError
from parley.tracing.document import TracedText, copy_cells
from parley.tracing.marks import ZW_BIT, fold_homoglyphs, strip_zero_width
from parley.tracing.wording import fold

_ZW_SWAP = str.maketrans({ZW_BIT[0]: ZW_BIT[1], ZW_BIT[1]: ZW_BIT[0]})


def _rewrap(text: str, width: int = 66) -> str:
    """Whitespace as a retyped or re-flowed text has it: single spaces, new line breaks."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines)


def retype(text: str, rng: random.Random | None = None, typo_rate: float = 0.01) -> str:
    """A retyped copy: look-alikes folded, invisible characters gone, new line breaks, a few typos."""
    rng = rng or random.Random(0)  # noqa: S311 - simulation
    words = _rewrap(fold(text)).split(" ")
    for i, word in enumerate(words):
        if len(word) > 3 and rng.random() < typo_rate:
            j = rng.randrange(len(word))
            words[i] = word[:j] + rng.choice("etaoinshrdlu") + word[j + 1 :]
    return " ".join(words)


def swap_zero_width(text: str) -> str:
    """One ``str.translate``: U+200B and U+200C swapped everywhere."""
    return text.translate(_ZW_SWAP)


def randomise_zero_width(text: str, rng: random.Random | None = None) -> str:
    """Every U+200B / U+200C replaced by one of the two at random."""
    rng = rng or random.Random(0)  # noqa: S311 - simulation
    return "".join(rng.choice(ZW_BIT) if ch in ZW_BIT else ch for ch in text)


def strip_format(text: str) -> str:
    """Every format character (Unicode category Cf) removed."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


SINGLE_ATTACKS: dict[str, Callable[[str], str]] = {
    "none": lambda text: text,
    "nfkc": lambda text: unicodedata.normalize("NFKC", text),
    "skeleton": lambda text: fold_homoglyphs(text),
    "format-stripped": strip_format,
    "zw-stripped": strip_zero_width,
    "zw-swapped": swap_zero_width,
    "zw-randomised": randomise_zero_width,
    "whitespace": _rewrap,
    "retyped": retype,
}
COLLUSION_STRATEGIES = ("interleave", "majority", "random-differing", "delete-differing")
__all__ = ["COLLUSION_STRATEGIES", "SINGLE_ATTACKS", "collude", "copy_cells", "excerpt_span", "retype"]


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


def words_span(text: str, words: int, rng: random.Random) -> tuple[int, int]:
    """A random span of ``words`` whitespace-separated words (the whole text if shorter)."""
    bounds = [m.span() for m in re.finditer(r"\S+", text)]
    if words >= len(bounds):
        return 0, len(text)
    first = rng.randrange(0, len(bounds) - words)
    return bounds[first][0], bounds[first + words - 1][1]


def collude(
    copies: Sequence[list[str]], canonical: str, span: tuple[int, int], strategy: str, rng: random.Random
) -> str:
    """The leak the colluders build from their copies' cells over ``span``.

    interleave: runs of 20-200 characters (cut at spaces) taken from each copy in turn;
    majority: cell by cell the most common variant, ties broken at random;
    random-differing: wherever the copies differ, one of their variants at random;
    delete-differing: wherever the copies differ, the cell left out (words dropped).

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
        return "".join(out)
    for i in range(start, end):
        variants = Counter(c[i] for c in copies)
        if len(variants) == 1:
            out.append(copies[0][i])
        elif strategy == "majority":
            top = max(variants.values())
            out.append(rng.choice(sorted(v for v, n in variants.items() if n == top)))
        elif strategy == "random-differing":
            out.append(rng.choice(sorted(variants)))
        elif strategy == "delete-differing":
            continue
        else:
            raise InputError(f"unknown strategy {strategy!r}")
    return "".join(out)


def normalise_wording(text: str, doc: TracedText) -> str:
    """What a reader who knows the automatic variants does: every one of them in one fixed form.

    Works on the leak's own words (digits for numbers, "%", day-month-year dates, the serial
    comma, no hyphens, American spelling): no knowledge of the copy's slots is needed.
    """
    from parley.tracing.variants import BRITISH_TO_AMERICAN, HYPHENATION, NUMBER_WORDS

    words_to_digits = {w: str(n) for n, w in NUMBER_WORDS.items()}
    text = re.sub(r"\b(" + "|".join(sorted(words_to_digits, key=len, reverse=True)) + r")\b(?= [a-z])",
                  lambda m: words_to_digits[m.group()], text)  # fmt: skip
    text = re.sub(r" per ?cent\b", "%", text)
    text = re.sub(
        r"\b(January|February|March|April|May|June|July|August|September|October|November|December) "
        r"(\d{1,2}), (\d{4})",
        r"\2 \1 \3",
        text,
    )
    text = re.sub(r"(\w), (and|or) ", r"\1 \2 ", text)
    text = re.sub(r"\b[\w-]+\b", lambda m: HYPHENATION.get(m.group(), m.group()) if "-" in m.group() else m.group(), text)
    return re.sub(r"\b[a-z]+\b", lambda m: BRITISH_TO_AMERICAN.get(m.group(), m.group()), text)


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
