"""Wording variants: equivalent phrasings chosen per recipient (the visible, retype-proof mark layer).

A *slot* is a span of the canonical text with two equivalent wordings; alternative 0 is the
canonical one.  Slots come from two sources:

* the author's own alternatives, written inline: ``{within thirty days|within 30 days}``
  (the first is the canonical wording; ``\\{`` writes a literal brace);
* safe automatic variants that never change the meaning: small numbers as digits or words,
  "per cent" / "percent" / "%", day-month-year or month-day-year dates, the serial comma,
  hyphenated compounds and British/American spelling.  The author sees them in a preview and
  can veto any one of them before delivery.

Automatic variants are English only: they are never looked for inside quotations, defined
terms, URLs or e-mail addresses, or in capitalised words that are names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from parley.errors import InputError

#: kinds of slot, in the order a preview lists them
KINDS = ("author", "number", "percent", "date", "serial-comma", "hyphenation", "spelling")


@dataclass(frozen=True)
class Slot:
    """Characters ``start:end`` of the canonical text, which read ``alternatives[0]`` there."""

    start: int
    end: int
    alternatives: tuple[str, str]
    kind: str

    def to_json(self) -> list[object]:
        return [self.start, self.end, self.alternatives[0], self.alternatives[1], self.kind]

    @classmethod
    def from_json(cls, data: object) -> Slot:
        """Raises InputError if ``data`` is not a ``to_json`` list."""
        if not isinstance(data, list) or len(data) != 5:
            raise InputError("malformed variant slot")
        start, end, first, second, kind = data
        if (
            not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end))
            or not all(isinstance(v, str) for v in (first, second, kind))
            or not 0 <= start <= end
            or kind not in KINDS
            or first == second
        ):
            raise InputError("malformed variant slot")
        return cls(start, end, (first, second), kind)


# ---- the author's inline alternatives ------------------------------------------------------------

_INLINE = re.compile(r"(?<!\\)\{((?:[^{}\\\n]|\\[{}|\\])*)\}")
_UNESCAPE = re.compile(r"\\([{}|\\])")


def _split_alternatives(body: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            current.append(body[i + 1])
            i += 2
            continue
        if body[i] == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(body[i])
        i += 1
    parts.append("".join(current))
    return parts


def parse_alternatives(source: str) -> tuple[str, list[Slot]]:
    """The canonical text (first alternatives) and the author's slots of ``source``.

    ``{a|b}`` is a slot; braces without a ``|`` inside are ordinary text; ``\\{``, ``\\}``,
    ``\\|`` and ``\\\\`` are literal characters everywhere.

    Raises InputError if a slot has more than two alternatives, an empty or identical pair,
    or spans a line break.
    """
    if not isinstance(source, str):
        raise InputError(f"text must be a str, got {type(source).__name__}")
    out: list[str] = []
    slots: list[Slot] = []
    size = 0
    pos = 0
    for m in _INLINE.finditer(source):
        body = m.group(1)
        parts = _split_alternatives(body)
        if len(parts) < 2:
            continue
        before = _UNESCAPE.sub(r"\1", source[pos : m.start()])
        out.append(before)
        size += len(before)
        if len(parts) > 2:
            raise InputError(
                f"alternative wordings take two forms, got {len(parts)} in {{{body}}}",
                hint="write {first|second}; the first is the canonical wording",
            )
        first, second = parts
        if not first.strip() or not second.strip() or first == second:
            raise InputError(f"alternative wordings must be two different non-empty forms: {{{body}}}")
        slots.append(Slot(size, size + len(first), (first, second), "author"))
        out.append(first)
        size += len(first)
        pos = m.end()
    out.append(_UNESCAPE.sub(r"\1", source[pos:]))
    return "".join(out), slots


# ---- automatic variants --------------------------------------------------------------------------

_UNITS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words() -> dict[int, str]:
    words = {i + 1: w for i, w in enumerate(_UNITS)}
    for t, tens in enumerate(_TENS, start=2):
        words[10 * t] = tens
        for u in range(1, 10):
            words[10 * t + u] = f"{tens}-{_UNITS[u - 1]}"
    return words


NUMBER_WORDS = {n: w for n, w in _number_words().items() if n >= 2}
_WORD_NUMBERS = {w: n for n, w in NUMBER_WORDS.items()}
#: words after which a number is a reference (article 5), not a quantity
_REFERENCE_WORDS = frozenset(
    "article articles section sections clause clauses paragraph paragraphs annex annexes page pages "
    "point points item items no number chapter part schedule table figure rule resolution protocol "
    "version round phase stage level grade category appendix line lines step of".split()
)
#: words after a number that make it part of something else (a date, an amount, a time)
_NOT_A_COUNT = frozenset(
    "of and or to per percent cent am pm a.m p.m o'clock".split()
) | frozenset(
    "january february march april may june july august september october november december".split()
)
_MONTHS = (
    "January February March April May June July August September October November December".split()
)
_NUMBER = re.compile(
    r"(?<![\w.,/:\-])(?:(?P<digits>[1-9]\d?)|(?P<words>(?:"
    + "|".join(_TENS)
    + r")(?:-(?:"
    + "|".join(_UNITS[:9])
    + r"))?|"
    + "|".join(_UNITS[1:])
    + r"))(?=[ ](?P<next>[a-z][a-z'\-]*))"
)
_PERCENT = re.compile(r"(?<![\w.,])(\d+(?:\.\d+)?)(%| per cent\b| percent\b)")
_DATE_DMY = re.compile(r"(?<![\w.,/])([1-9]|[12]\d|3[01]) (" + "|".join(_MONTHS) + r") (\d{4})\b")
_DATE_MDY = re.compile(r"\b(" + "|".join(_MONTHS) + r") ([1-9]|[12]\d|3[01]), (\d{4})\b")
_SERIAL = re.compile(r"\b\w+(?: \w+){0,2}, \w+(?: \w+){0,2}(,?) (and|or) (?=\w)")
_WORD = re.compile(r"[A-Za-z][A-Za-z\-']*")

_HYPHENATED = {
    "co-operation": "cooperation", "co-operate": "cooperate", "co-operative": "cooperative",
    "co-ordinate": "coordinate", "co-ordinated": "coordinated", "co-ordination": "coordination",
    "e-mail": "email", "e-mails": "emails", "peace-keeping": "peacekeeping",
    "non-governmental": "nongovernmental", "well-being": "wellbeing", "decision-making": "decision making",
    "re-establish": "reestablish", "re-examine": "reexamine",
}  # fmt: skip
_IZE_STEMS = (
    "organ recogn author final real priorit stabil mobil demobil normal harmon minim util summar "
    "legitim militar demilitar neutral critic apolog character central decentral privat modern "
    "formal maxim optim standard special emphas memorial synchron"
).split()
_OUR_STEMS = "favour labour honour neighbour behaviour endeavour colour harbour rumour vigour".split()


def _spelling_pairs() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for stem in _IZE_STEMS:
        for suffix in ("ise", "ised", "ises", "ising", "isation", "isations"):
            british = stem + suffix
            if british == "emphasisation":
                continue
            pairs[british] = stem + suffix.replace("is", "iz", 1)
    for word in _OUR_STEMS:
        for suffix in ("", "s", "ed", "ing", "able", "ite", "ites"):
            pairs[word + suffix] = word.replace("our", "or") + suffix
    pairs.update({
        "centre": "center", "centres": "centers", "metre": "meter", "metres": "meters",
        "kilometre": "kilometer", "kilometres": "kilometers", "defence": "defense", "offence": "offense",
        "analyse": "analyze", "analysed": "analyzed", "travelled": "traveled", "cancelled": "canceled",
        "labelled": "labeled", "modelling": "modeling", "fulfil": "fulfill", "judgement": "judgment",
        "acknowledgement": "acknowledgment", "towards": "toward", "amongst": "among", "whilst": "while",
        "catalogue": "catalog", "enrol": "enroll", "instalment": "installment", "instalments": "installments",
    })  # fmt: skip
    for word in ("emphasis",):  # a noun, not a British spelling
        pairs.pop(word, None)
    return pairs


BRITISH_TO_AMERICAN = _spelling_pairs()
#: every spelling variant both ways (British -> American and back), for the lower-case form
#: "while", "among", "toward" and "meter" (a measuring device) are also words of their own: one way only
SPELLING = {
    **BRITISH_TO_AMERICAN,
    **{v: k for k, v in BRITISH_TO_AMERICAN.items() if v not in ("while", "among", "toward", "meter", "meters")},
}
HYPHENATION = {**_HYPHENATED, **{v: k for k, v in _HYPHENATED.items() if " " not in v}}
_QUOTED = re.compile(r'"[^"\n]*"|\u201c[^\u201d\n]*\u201d|\u00ab[^\u00bb\n]*\u00bb|\'[^\'\n]{2,}\'')
_URLISH = re.compile(r"\S*(?:://|www\.|@)\S*")
_SENTENCE_END = ".!?:;\u2026"


def _match_case(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _sentence_initial(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and (text[i].isspace() or text[i] in "\"'([\u201c\u2018\u00ab*-\u2013\u2014"):
        if text[i] == "\n":
            return True
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END


def _previous_word(text: str, start: int) -> str:
    m = re.search(r"([\w.]+)\W*$", text[max(0, start - 40) : start])
    return m.group(1).lower().rstrip(".") if m else ""


def _protected(text: str, defined_terms: Sequence[str]) -> bytearray:
    mask = bytearray(len(text))
    spans = [m.span() for m in _QUOTED.finditer(text)] + [m.span() for m in _URLISH.finditer(text)]
    for term in defined_terms:
        if not isinstance(term, str):
            raise InputError("defined terms must be strings")
        if term.strip():
            pattern = re.compile(r"(?<!\w)" + re.escape(term.strip()) + r"(?!\w)", re.IGNORECASE)
            spans += [m.span() for m in pattern.finditer(text)]
    for start, end in spans:
        mask[start:end] = b"\x01" * (end - start)
    return mask


def _numbers(text: str) -> Iterable[Slot]:
    for m in _NUMBER.finditer(text):
        following = m.group("next")
        previous = _previous_word(text, m.start())
        if following in _NOT_A_COUNT or previous in _REFERENCE_WORDS:
            continue
        # "twenty four", "1 250": part of a larger number written in pieces
        if following in _WORD_NUMBERS or following in _UNITS or previous in _WORD_NUMBERS or previous in _UNITS:
            continue
        if previous[-1:].isdigit() or following in ("hundred", "thousand", "million", "billion"):
            continue
        if _sentence_initial(text, m.start()):
            continue
        if m.group("digits"):
            value = int(m.group("digits"))
            if value not in NUMBER_WORDS:
                continue
            other = NUMBER_WORDS[value]
        else:
            other = str(_WORD_NUMBERS[m.group("words")])
        yield Slot(m.start(), m.end(), (m.group(), other), "number")


def _percents(text: str) -> Iterable[Slot]:
    for m in _PERCENT.finditer(text):
        other = f"{m.group(1)}%" if m.group(2) != "%" else f"{m.group(1)} per cent"
        yield Slot(m.start(), m.end(), (m.group(), other), "percent")


def _dates(text: str) -> Iterable[Slot]:
    for m in _DATE_DMY.finditer(text):
        day, month, year = m.groups()
        yield Slot(m.start(), m.end(), (m.group(), f"{month} {day}, {year}"), "date")
    for m in _DATE_MDY.finditer(text):
        month, day, year = m.groups()
        yield Slot(m.start(), m.end(), (m.group(), f"{day} {month} {year}"), "date")


def _serial_commas(text: str) -> Iterable[Slot]:
    for m in _SERIAL.finditer(text):
        comma, conj = m.group(1), m.group(2)
        start = m.start(1)
        end = m.end(2)
        current = text[start:end]
        other = f" {conj}" if comma else f", {conj}"
        yield Slot(start, end, (current, other), "serial-comma")


def _words(text: str) -> Iterable[Slot]:
    for m in _WORD.finditer(text):
        word = m.group()
        lower = word.lower()
        if word[0].isupper() and not _sentence_initial(text, m.start()):
            continue  # a name ("World Health Organization") keeps its spelling
        if lower in HYPHENATION:
            yield Slot(m.start(), m.end(), (word, _match_case(word, HYPHENATION[lower])), "hyphenation")
        elif lower in SPELLING:
            yield Slot(m.start(), m.end(), (word, _match_case(word, SPELLING[lower])), "spelling")
    # two-word forms of hyphenated compounds ("decision making")
    for joined, split in _HYPHENATED.items():
        if " " not in split:
            continue
        for m in re.finditer(r"\b" + re.escape(split) + r"\b", text):
            yield Slot(m.start(), m.end(), (m.group(), joined), "hyphenation")


def automatic_slots(text: str, defined_terms: Sequence[str] = (), taken: Sequence[Slot] = ()) -> list[Slot]:
    """The safe automatic variants of a canonical text, in text order, none overlapping.

    Slots overlapping ``taken`` (the author's), quotations, defined terms, URLs or another
    slot found first (percentages and dates before bare numbers) are left out, and a text whose
    letters are not mostly ASCII (not English) gets none.

    Raises InputError if text is not a str or a defined term is not a string.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a str, got {type(text).__name__}")
    letters = [ch for ch in text if ch.isalpha()]
    if letters and sum(1 for ch in letters if ch.isascii()) < 0.8 * len(letters):
        return []  # not English: "5 per cent" would be wrong in a Russian or Ukrainian text
    mask = _protected(text, defined_terms)
    used = bytearray(len(text))
    for slot in taken:
        used[slot.start : slot.end] = b"\x01" * (slot.end - slot.start)
    found: list[Slot] = []
    for source in (_percents, _dates, _numbers, _serial_commas, _words):
        for slot in source(text):
            span = slice(slot.start, slot.end)
            if 1 in mask[span] or 1 in used[span] or "\n" in text[span]:
                continue
            used[span] = b"\x01" * (slot.end - slot.start)
            found.append(slot)
    found.sort(key=lambda s: s.start)
    return found


def render(text: str, slots: Sequence[Slot], choices: Sequence[int]) -> str:
    """The text with alternative ``choices[k]`` (0 or 1) written in slot k (slots in text order)."""
    out: list[str] = []
    pos = 0
    for slot, choice in zip(slots, choices, strict=True):
        out.append(text[pos : slot.start])
        out.append(slot.alternatives[choice])
        pos = slot.end
    out.append(text[pos:])
    return "".join(out)


def preview(text: str, slots: Sequence[Slot], context: int = 28, first: int = 1) -> list[str]:
    """One line per slot, numbered from ``first``: kind, the two wordings and the words around it."""
    lines = []
    for number, slot in enumerate(slots, start=first):
        before = text[max(0, slot.start - context) : slot.start].replace("\n", " ")
        after = text[slot.end : slot.end + context].replace("\n", " ")
        first, second = slot.alternatives
        lines.append(f"{number:>4}. {slot.kind:<12} '{first}' / '{second}'   …{before}[{first}]{after}…")
    return lines
