"""Align a leaked excerpt to the canonical master and read the symbols of the carriers it holds.

The excerpt may be partial, have paragraphs reordered, small edits, normalisation (NFC/NFKC)
or stripped marks.  Alignment works on words: both texts are tokenised, each word reduced to a
key (homoglyphs folded to Latin, NFKC, case-folded, so marks and normalisation do not disturb
it), and runs of equal keys are found from word-trigram anchors, in any order.  Inside a
matched word of the same length the characters correspond one to one, so the letters of the
homoglyph pairs can be read; between two consecutively matched words the gap can be read.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

from parley.tracing.marks import _TO_LATIN, SWAP, WORD, ZERO_WIDTH, ZW_BIT, Layout

#: candidates tried per anchor; repeated boilerplate beyond this is simply not disambiguated
_MAX_CANDIDATES = 64
_ZW_DELETE = {ord(ch): None for ch in ZERO_WIDTH}


def _key(word: str) -> str:
    return unicodedata.normalize("NFKC", word.translate(_TO_LATIN)).casefold()


class Master:
    """Index of a canonical text for alignment: word keys, trigram anchors, carriers per word."""

    def __init__(self, text: str, layout: Layout) -> None:
        self.text = text
        self.layout = layout
        words = list(WORD.finditer(text))
        self.spans = [m.span() for m in words]
        self.keys = [_key(m.group()) for m in words]
        self.anchors: dict[tuple[str, str, str], list[int]] = {}
        for i in range(len(self.keys) - 2):
            self.anchors.setdefault((self.keys[i], self.keys[i + 1], self.keys[i + 2]), []).append(i)
        starts = [s for s, _ in self.spans]
        #: word index -> character indices of pair letters inside it
        self.word_letters: dict[int, list[int]] = {}
        #: word index w -> carrier index of the gap between word w and word w + 1
        self.gap_after: dict[int, int] = {}
        #: letter index -> carrier index
        self.letter_carrier: dict[int, int] = {}
        for k, (a, b) in enumerate(layout.carriers):
            if b < 0:
                self.gap_after[bisect_right(starts, a) - 1] = k
                continue
            for q in (a, b):
                self.letter_carrier[q] = k
                self.word_letters.setdefault(bisect_right(starts, q) - 1, []).append(q)


@dataclass(frozen=True)
class Reading:
    """What was read from an excerpt: (carrier index, bit) pairs and counts."""

    symbols: list[tuple[int, int]]
    located: int
    erased: int
    words_matched: int
    #: carrier indices located but unreadable (their mark stripped, folded or mixed)
    erased_carriers: tuple[int, ...] = ()


def match_words(excerpt_keys: list[str], master: Master) -> list[tuple[int, int, int]]:
    """Blocks (excerpt word, master word, length) of equal keys, found from trigram anchors.

    Greedy left to right over the excerpt; each anchor is extended as far as the keys agree and
    the longest extension wins, preferring the continuation of the previous block so repeated
    boilerplate stays in order.  Blocks may come in any master order (reordered paragraphs).
    """
    keys, mkeys = excerpt_keys, master.keys
    blocks: list[tuple[int, int, int]] = []
    i, prev_end = 0, -1
    while i + 2 < len(keys):
        candidates = master.anchors.get((keys[i], keys[i + 1], keys[i + 2]))
        if not candidates:
            i += 1
            continue
        tried = candidates[:_MAX_CANDIDATES]
        if 0 <= prev_end < len(mkeys) - 2 and mkeys[prev_end : prev_end + 3] == keys[i : i + 3]:
            tried = [prev_end, *tried]
        best, best_len = -1, 0
        for c in tried:
            length = 3
            while (
                i + length < len(keys) and c + length < len(mkeys) and keys[i + length] == mkeys[c + length]
            ):
                length += 1
            if length > best_len:
                best, best_len = c, length
        blocks.append((i, best, best_len))
        i += best_len
        prev_end = best + best_len
    return blocks


def read_excerpt(excerpt: str, master: Master) -> Reading:
    """Locate the master's carriers in ``excerpt`` and read their symbols (erasures dropped)."""
    words = list(WORD.finditer(excerpt))
    blocks = match_words([_key(m.group()) for m in words], master)
    text = master.text
    observed: dict[int, str] = {}  # master letter index -> excerpt character
    gap_reads: dict[int, int | None] = {}  # carrier -> bit, or None for located but erased
    matched = 0
    for e0, c0, length in blocks:
        matched += length
        for off in range(length):
            ew, cw = words[e0 + off], c0 + off
            cs, ce = master.spans[cw]
            letters = master.word_letters.get(cw)
            if letters and ew.end() - ew.start() == ce - cs:
                shift = ew.start() - cs
                for q in letters:
                    observed[q] = excerpt[q + shift]
            k = master.gap_after.get(cw)
            if k is not None and off + 1 < length:
                between = excerpt[ew.end() : words[e0 + off + 1].start()]
                expected = text[ce : master.spans[cw + 1][0]]
                if between.translate(_ZW_DELETE) != expected:
                    gap_reads.setdefault(k, None)
                    continue
                bits = {ZW_BIT.index(ch) for ch in between if ch in ZW_BIT}
                bit = bits.pop() if len(bits) == 1 else None
                if gap_reads.get(k) is None:
                    gap_reads[k] = bit
    symbols: list[tuple[int, int]] = []
    erased = 0
    erased_carriers: list[int] = []
    located_pairs: set[int] = {master.letter_carrier[q] for q in observed}
    for k in located_pairs:
        a, b = master.layout.carriers[k]
        if a in observed and b in observed:
            ea, eb = observed[a], observed[b]
            if ea == SWAP[text[a]] and eb == text[b]:
                symbols.append((k, 0))
                continue
            if ea == text[a] and eb == SWAP[text[b]]:
                symbols.append((k, 1))
                continue
        erased += 1
        erased_carriers.append(k)
    for k, bit in gap_reads.items():
        if bit is None:
            erased += 1
            erased_carriers.append(k)
        else:
            symbols.append((k, bit))
    return Reading(symbols, len(located_pairs) + len(gap_reads), erased, matched, tuple(erased_carriers))
