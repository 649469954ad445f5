"""Reading the wording layer back from a leak: fold, tokenise, align to the master, read each slot.

A leak is reduced to *keys*: Unicode NFKC, format characters (Cf: zero-width and the like)
dropped, look-alike letters folded to Latin (the confusable skeleton of Unicode TR39 for the
scripts our readers meet: Cyrillic and Greek), case folded.  Whitespace and line breaks
only separate tokens, so re-flowing, retyping or OCR of the text does not move anything.

Alignment works on the token keys of the canonical text: word-trigram anchors outside slots
find where a run of the leak sits in the master; each run is extended token by token, and
at a slot the leak's tokens are compared with both wordings.  One token substituted, inserted
or dropped (an OCR misread, a typo) does not end a run.  A slot whose tokens match neither
wording is *located but unreadable* (counted: wording altered there).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from parley.tracing.variants import Slot

#: a token: a run of letters, digits and combining marks, or one of these signs
TOKEN = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+|[%&,§]")
#: confusable look-alikes (TR39 skeleton, Cyrillic and Greek letters that render as Latin)
_CONFUSABLES = str.maketrans({
    "\u0430": "a", "\u0441": "c", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0445": "x", "\u0443": "y",
    "\u0456": "i", "\u0458": "j", "\u0455": "s", "\u04bb": "h", "\u0501": "d", "\u051b": "q", "\u051d": "w",
    "\u0410": "A", "\u0412": "B", "\u0421": "C", "\u0415": "E", "\u041d": "H", "\u0406": "I", "\u0408": "J",
    "\u041a": "K", "\u041c": "M", "\u041e": "O", "\u0420": "P", "\u0405": "S", "\u0422": "T", "\u0425": "X",
    "\u0423": "Y", "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I",
    "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y",
    "\u03a7": "X", "\u03bf": "o", "\u03b1": "a", "\u03b9": "i", "\u03ba": "k", "\u03bd": "v", "\u03c1": "p",
    "\u03c5": "u",
})  # fmt: skip
_MAX_CANDIDATES = 64


def _is_format(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf"


def fold(text: str) -> str:
    """NFKC, format characters dropped, look-alikes folded to Latin: what tracing compares."""
    text = unicodedata.normalize("NFKC", text)
    if any(_is_format(ch) for ch in text):
        text = "".join(ch for ch in text if not _is_format(ch))
    return text.translate(_CONFUSABLES)


def _token_key(token: str) -> str:
    # a token mixing scripts is folded whole; a purely Cyrillic word stays Cyrillic after
    # the fold only where no look-alike exists, which is the same for master and leak
    return token.casefold()


def tokens(text: str) -> list[str]:
    """The comparison keys of a text's tokens (see the module docstring)."""
    return [_token_key(m.group()) for m in TOKEN.finditer(fold(text))]


class WordingMaster:
    """Token keys of a canonical text and where its slots sit among them."""

    def __init__(self, text: str, slots: Sequence[Slot]) -> None:
        self.slots = list(slots)
        self.keys: list[str] = []
        self.slot_at: dict[int, int] = {}  # first token index of a slot -> slot index
        self.slot_end: dict[int, int] = {}  # slot index -> token index after it
        self.alternatives: list[tuple[list[str], list[str]]] = []
        in_slot: list[int] = []
        pos = 0
        # tokenised piece by piece so each slot's tokens are known; slots sit at word edges
        for k, slot in enumerate(self.slots):
            before = tokens(text[pos : slot.start])
            self.keys += before
            in_slot += [0] * len(before)
            first = len(self.keys)
            inside = tokens(text[slot.start : slot.end])
            self.keys += inside
            in_slot += [1] * len(inside)
            self.alternatives.append((tokens(slot.alternatives[0]), tokens(slot.alternatives[1])))
            self.slot_at[first] = k
            self.slot_end[k] = len(self.keys)
            pos = slot.end
        rest = tokens(text[pos:])
        self.keys += rest
        in_slot += [0] * len(rest)
        self.in_slot = bytes(in_slot)
        self.anchors: dict[tuple[str, str, str], list[int]] = {}
        for i in range(len(self.keys) - 2):
            if not (self.in_slot[i] or self.in_slot[i + 1] or self.in_slot[i + 2]):
                self.anchors.setdefault((self.keys[i], self.keys[i + 1], self.keys[i + 2]), []).append(i)


@dataclass(frozen=True)
class WordingReading:
    """Slot index -> alternative read (0 or 1); slots located but matching neither wording."""

    read: dict[int, int]
    unreadable: set[int]
    tokens_matched: int


def _extend(
    keys: list[str], i: int, master: WordingMaster, c: int
) -> tuple[int, int, int, list[tuple[int, int | None]]]:
    """Follow the leak from token i and the master from token c; returns the stop points and reads."""
    mkeys = master.keys
    reads: list[tuple[int, int | None]] = []
    matched = 0
    misses = 0
    while i < len(keys) and c < len(mkeys):
        k = master.slot_at.get(c)
        if k is not None:
            end = master.slot_end[k]
            fits = []
            for j, alt in enumerate(master.alternatives[k]):
                if keys[i : i + len(alt)] == alt:
                    after = i + len(alt)
                    if _continues(keys, after, master, end):
                        fits.append((j, after))
            if len(fits) == 1:
                reads.append((k, fits[0][0]))
                i, c = fits[0][1], end
                matched += 1
                misses = 0
                continue
            # neither wording (or both, ambiguously): find where the fixed text resumes
            resume = _resync(keys, i, mkeys, end)
            if resume is None:
                break
            reads.append((k, None))
            i, c = resume, end
            continue
        if keys[i] == mkeys[c]:
            i, c = i + 1, c + 1
            matched += 1
            misses = 0
            continue
        misses += 1
        if misses > 2:
            break
        ahead = mkeys[c + 1 : c + 3]
        if keys[i + 1 : i + 3] == ahead and not any(master.in_slot[c + 1 : c + 3]):
            i, c = i + 1, c + 1  # one token misread
        elif keys[i + 2 : i + 4] == ahead and not any(master.in_slot[c + 1 : c + 3]):
            i, c = i + 2, c + 1  # a token split in two (OCR)
        elif keys[i : i + 2] == ahead and not any(master.in_slot[c + 1 : c + 3]):
            c += 1  # a token dropped
        elif keys[i + 1 : i + 3] == mkeys[c : c + 2] and not any(master.in_slot[c : c + 2]):
            i += 1  # a token inserted
        else:
            break
    return i, c, matched, reads


def _continues(keys: list[str], i: int, master: WordingMaster, c: int) -> bool:
    """Whether leak token i can be master token c (either wording's first token if c opens a slot)."""
    if i >= len(keys) or c >= len(master.keys):
        return True
    k = master.slot_at.get(c)
    if k is None:
        return keys[i] == master.keys[c]
    return any(alt and keys[i] == alt[0] for alt in master.alternatives[k])


def _resync(keys: list[str], i: int, mkeys: list[str], end: int) -> int | None:
    """Where the leak resumes the master's fixed text at token ``end`` (within a few tokens)."""
    if end >= len(mkeys):
        return None
    want = mkeys[end : end + 2]
    for skip in range(0, 7):
        if keys[i + skip : i + skip + len(want)] == want:
            return i + skip
    return None


def read_wording(leak: str, master: WordingMaster) -> WordingReading:
    """Align ``leak`` to the master and read every slot it covers."""
    keys = tokens(leak)
    read: dict[int, int] = {}
    conflicting: set[int] = set()
    unreadable: set[int] = set()
    matched_total = 0
    i = 0
    prev_end = -1
    while i + 2 < len(keys):
        candidates = master.anchors.get((keys[i], keys[i + 1], keys[i + 2]))
        if not candidates:
            i += 1
            continue
        tried = candidates[:_MAX_CANDIDATES]
        if prev_end >= 0 and prev_end in candidates:
            tried = [prev_end, *tried]
        best: tuple[int, int, int, list[tuple[int, int | None]]] = (i + 1, -1, -1, [])
        for c in tried:
            attempt = _extend(keys, i, master, c)
            if attempt[2] > best[2]:
                best = attempt
        stop, master_stop, matched, reads = best
        matched_total += matched
        for k, alt in reads:
            if alt is None:
                unreadable.add(k)
            elif k in read and read[k] != alt:
                conflicting.add(k)
            else:
                read[k] = alt
        i = max(stop, i + 1)
        prev_end = master_stop
    for k in conflicting:
        read.pop(k, None)
        unreadable.add(k)
    unreadable -= set(read)
    return WordingReading(read, unreadable, matched_total)
