"""Invisible marks: Latin/Cyrillic homoglyph pairs and zero-width characters at word gaps.

Carriers (one code symbol each), found by a deterministic scan of the canonical text:

* a *pair* of homoglyph letters; bit 0 = the first letter is swapped to the other script,
  bit 1 = the second one is.  A reader that sees neither or both swapped reads an erasure, so
  folding the homoglyphs back erases the symbol instead of flipping it;
* a *gap*: a single space between two ordinary words, followed by U+200B (bit 0) or U+200C
  (bit 1).  Stripping zero-width characters again erases rather than flips.

Letters are swapped only inside ordinary single-script words that keep at least one letter
without a look-alike (the *anchor*), which tells ``unmark`` the word's script.  Tokens with
digits, URLs and e-mail addresses, quoted spans, caller-defined terms and proper names are
never touched, nor are the gaps next to them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from parley.errors import InputError

LATIN_TO_CYRILLIC = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445",
    "y": "\u0443", "i": "\u0456", "j": "\u0458", "s": "\u0455",
    "A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415", "H": "\u041d", "I": "\u0406",
    "J": "\u0408", "K": "\u041a", "M": "\u041c", "O": "\u041e", "P": "\u0420", "S": "\u0405",
    "T": "\u0422", "X": "\u0425", "Y": "\u0423",
}  # fmt: skip
CYRILLIC_TO_LATIN = {v: k for k, v in LATIN_TO_CYRILLIC.items()}
#: letter -> its look-alike in the other script
SWAP = {**LATIN_TO_CYRILLIC, **CYRILLIC_TO_LATIN}
_TO_LATIN = str.maketrans(CYRILLIC_TO_LATIN)
_TO_CYRILLIC = str.maketrans(LATIN_TO_CYRILLIC)

ZW_BIT = ("\u200b", "\u200c")  # ZERO WIDTH SPACE = 0, ZERO WIDTH NON-JOINER = 1
#: zero-width characters that ``unmark`` removes after a space (also U+200D, U+2060, U+FEFF,
#: so a copy re-encoded by some tool still unmarks)
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_ZW_AFTER_SPACE = re.compile(" [" + ZERO_WIDTH + "]+")

#: a word: letters and digits with their combining marks (the unit of ``unmark`` and alignment)
WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f])+")
_TOKEN = re.compile(r"\S+")
_QUOTED = re.compile(
    r'"[^"\n]*"|\u201c[^\u201d\n]*\u201d|\u00ab[^\u00bb\n]*\u00bb|\u201e[^\u201c\u201d\n]*[\u201c\u201d]'
)
_URLISH = re.compile(r"://|^www\.|@|\w\.\w|/", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
_SENTENCE_END = ".!?\u2026"
_OPENERS = "\"'([{\u201c\u2018\u00ab\u201e*-\u2013\u2014"
#: pairs further apart than this are not formed: a short excerpt should hold both letters
_MAX_PAIR_SPAN = 48


@lru_cache(maxsize=4096)
def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if name.startswith("LATIN"):
        return "L"
    if name.startswith("CYRILLIC"):
        return "C"
    return ""


def _word_script(word: str) -> str:
    """'L' or 'C' if the word's letters are of one script and one of them is an anchor, else ''."""
    scripts = set()
    anchor = False
    for ch in word:
        if not ch.isalpha():
            continue
        script = _script(ch)
        scripts.add(script)
        if script and ch not in SWAP:
            anchor = True
    if anchor and len(scripts) == 1:
        return scripts.pop()
    return ""


def _unmark_word(match: re.Match[str]) -> str:
    word = match.group()
    latin_anchor = cyrillic_anchor = False
    for ch in word:
        if ch.isalpha() and ch not in SWAP:
            script = _script(ch)
            latin_anchor |= script == "L"
            cyrillic_anchor |= script == "C"
    if latin_anchor and not cyrillic_anchor:
        return word.translate(_TO_LATIN)
    if cyrillic_anchor and not latin_anchor:
        return word.translate(_TO_CYRILLIC)
    return word


def unmark(text: str) -> str:
    """Remove the invisible marks: the canonical text, exactly, for any copy ``make_copies`` made.

    Drops zero-width characters that follow a space, and in every word whose anchor letters
    (letters without a look-alike) are all of one script, maps the other script's homoglyphs
    back.  Idempotent.  A text with ``unmark(t) == t`` is *mark-free*; only mark-free texts
    can be marked (see ``make_copies``).

    Raises InputError if text is not a str.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}")
    return WORD.sub(_unmark_word, _ZW_AFTER_SPACE.sub(" ", text))


@dataclass(frozen=True)
class Layout:
    """The carriers of a canonical text, in text order.

    ``carriers[k] = (a, b)``: a pair of letter indices, or ``(a, -1)`` for a gap at the space at a.
    """

    carriers: tuple[tuple[int, int], ...]

    @property
    def pairs(self) -> int:
        return sum(1 for _, b in self.carriers if b >= 0)

    @property
    def gaps(self) -> int:
        return sum(1 for _, b in self.carriers if b < 0)


def _mask_spans(mask: bytearray, spans: Iterable[tuple[int, int]]) -> None:
    for start, end in spans:
        mask[start:end] = b"\x01" * (end - start)


def _sentence_initial(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and (text[i].isspace() or text[i] in _OPENERS):
        if text[i] == "\n":
            return True
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END


def excluded_mask(text: str, defined_terms: Sequence[str] = ()) -> bytearray:
    """1 for every character that must never carry a mark (numbers, URLs, names, terms, quotes)."""
    mask = bytearray(len(text))
    _mask_spans(mask, (m.span() for m in _QUOTED.finditer(text)))
    for term in defined_terms:
        if not isinstance(term, str):
            raise InputError("defined terms must be strings")
        term = term.strip()
        if term:
            pattern = re.compile(r"(?<!\w)" + re.escape(term) + r"(?!\w)", re.IGNORECASE)
            _mask_spans(mask, (m.span() for m in pattern.finditer(text)))
    for m in _TOKEN.finditer(text):
        token = m.group()
        if _DIGIT.search(token) or _URLISH.search(token):
            _mask_spans(mask, [m.span()])
    # Proper names: capitalised words, unless sentence-initial and also used in lower case
    # elsewhere ("The" / "the"); anything with a capital after the first letter (acronyms,
    # "McKay", "iPhone") counts as a name too.
    words = list(WORD.finditer(text))
    lower = {m.group() for m in words if m.group().islower()}
    for m in words:
        word = m.group()
        if word.islower() or not any(ch.isupper() for ch in word):
            continue
        ordinary = (
            word[0].isupper()
            and not any(ch.isupper() for ch in word[1:])
            and word.lower() in lower
            and _sentence_initial(text, m.start())
        )
        if not ordinary:
            _mask_spans(mask, [m.span()])
    return mask


def scan(text: str, defined_terms: Sequence[str] = ()) -> Layout:
    """Deterministic list of carriers of a canonical text (see the module docstring)."""
    mask = excluded_mask(text, defined_terms)
    letters: list[int] = []
    for m in WORD.finditer(text):
        start, end = m.span()
        if 1 in mask[start:end]:
            continue
        script = _word_script(m.group())
        if not script:
            continue
        for q in range(start, end):
            ch = text[q]
            # skip letters carrying a combining mark: NFC would treat a swapped base differently
            if (
                ch in SWAP
                and _script(ch) == script
                and not (q + 1 < len(text) and unicodedata.category(text[q + 1]).startswith("M"))
            ):
                letters.append(q)
    carriers: list[tuple[int, int]] = []
    k = 0
    while k + 1 < len(letters):
        a, b = letters[k], letters[k + 1]
        if b - a <= _MAX_PAIR_SPAN and "\n" not in text[a:b]:
            carriers.append((a, b))
            k += 2
        else:
            k += 1
    tokens = list(_TOKEN.finditer(text))
    for left, right in zip(tokens, tokens[1:], strict=False):
        gap = left.end()
        if right.start() == gap + 1 and text[gap] == " " and 1 not in mask[left.start() : right.end()]:
            carriers.append((gap, -1))
    carriers.sort()
    return Layout(tuple(carriers))


def embed(text: str, layout: Layout, symbols: Sequence[int]) -> str:
    """The copy of ``text`` carrying ``symbols[k]`` (0/1) in carrier k."""
    return "".join(embed_cells(text, layout, symbols))


def embed_cells(text: str, layout: Layout, symbols: Sequence[int]) -> list[str]:
    """One string per canonical character: the character, its swap, or a space plus a zero-width mark."""
    cells = list(text)
    for (a, b), bit in zip(layout.carriers, symbols, strict=True):
        if b < 0:
            cells[a] = " " + ZW_BIT[bit]
        else:
            q = b if bit else a
            cells[q] = SWAP[text[q]]
    return cells


def strip_zero_width(text: str) -> str:
    """What a zero-width stripper does: remove every zero-width character anywhere."""
    return text.translate({ord(ch): None for ch in ZERO_WIDTH})


def fold_homoglyphs(text: str) -> str:
    """What a confusable-skeleton folder does to our marks: every Cyrillic look-alike to Latin."""
    return text.translate(_TO_LATIN)
