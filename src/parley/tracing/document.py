"""A traced document: its canonical text, its wording slots and which mark layers it carries.

Layers, strongest first:

* ``wording`` (always, when the text has slots): equivalent wordings chosen per recipient;
  it survives retyping, OCR, look-alike folding and format-character stripping;
* ``homoglyph`` and ``zero-width`` (off by default, ``invisible=True`` turns them on): the
  invisible Latin/Cyrillic letter pairs and zero-width gap marks of ``marks.py``.  They mix
  scripts inside words and put invisible characters in the text, which breaks search,
  spell-checking and machine translation of the reader's copy, so they are opt-in.

Every layer reads the same keyed Tardos codeword: slot k holds code position
``permutation[k mod m]``, the invisible carriers the positions after the slots.  Which
wording stands for bit 1 is itself keyed per slot (``flips``), so a reader who turns every
number into digits writes a sequence that no recipient's codeword explains.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from parley.errors import InputError
from parley.tracing.code import DocumentCode, keyed_stream
from parley.tracing.marks import Layout, embed_cells, scan, unmark
from parley.tracing.secret import TracingSecret
from parley.tracing.variants import Slot, automatic_slots, parse_alternatives, preview, render

FORMAT = "parley-traced-text/1"


@dataclass(frozen=True)
class TracedText:
    """What the sender keeps (with the secret) to make copies and trace leaks of one text."""

    canonical: str
    slots: tuple[Slot, ...] = ()
    invisible: bool = False
    defined_terms: tuple[str, ...] = ()
    _layout: list[Layout] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def prepare(
        cls,
        source: str,
        *,
        defined_terms: Sequence[str] = (),
        vetoed: Sequence[int] = (),
        automatic: bool = True,
        invisible: bool = False,
    ) -> TracedText:
        """Parse the author's ``{a|b}`` alternatives, find the automatic variants, drop vetoed ones.

        ``vetoed`` numbers slots as ``preview_lines`` lists them (from 1, before any veto).

        Raises InputError on malformed alternatives, a vetoed number that names no slot, or
        (with ``invisible``) a canonical text that already holds tracing-like marks.
        """
        canonical, slots = parse_alternatives(source)
        terms = tuple(t for t in defined_terms)
        if automatic:
            slots = sorted([*slots, *automatic_slots(canonical, terms, slots)], key=lambda s: s.start)
        for number in vetoed:
            if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(slots):
                raise InputError(f"no variant number {number!r} to veto (the preview lists 1..{len(slots)})")
        kept = tuple(s for i, s in enumerate(slots, start=1) if i not in set(vetoed))
        doc = cls(canonical, kept, invisible, terms)
        doc.check()
        return doc

    def check(self) -> None:
        """Raises InputError if the slots do not fit the canonical text or overlap."""
        if not isinstance(self.canonical, str):
            raise InputError("canonical text must be a str")
        pos = 0
        for slot in self.slots:
            if slot.start < pos or self.canonical[slot.start : slot.end] != slot.alternatives[0]:
                raise InputError("variant slots do not fit the canonical text")
            pos = slot.end
        if self.invisible and unmark(self.canonical) != self.canonical:
            raise InputError(
                "canonical text already contains tracing-like marks (zero-width characters after "
                "spaces or mixed Latin/Cyrillic words), so un-marking would not restore it exactly",
                hint="pass unmark(text) as the canonical text, or remove those characters",
            )

    def preview_lines(self) -> list[str]:
        """The slots as the author reviews them before delivery (numbered for ``vetoed``)."""
        return preview(self.canonical, self.slots)

    @property
    def layout(self) -> Layout:
        """Invisible carriers outside the wording slots (empty unless ``invisible``)."""
        if not self._layout:
            if not self.invisible:
                self._layout.append(Layout(()))
            else:
                full = scan(self.canonical, self.defined_terms)
                taken = bytearray(len(self.canonical) + 1)
                for slot in self.slots:
                    taken[max(0, slot.start - 1) : slot.end + 1] = b"\x01" * (slot.end + 1 - max(0, slot.start - 1))
                self._layout.append(
                    Layout(tuple((a, b) for a, b in full.carriers if not taken[a] and (b < 0 or not taken[b])))
                )
        return self._layout[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "canonical": self.canonical,
            "slots": [s.to_json() for s in self.slots],
            "invisible": self.invisible,
            "defined_terms": list(self.defined_terms),
        }

    @classmethod
    def from_json(cls, data: str | dict[str, Any]) -> TracedText:
        """Raises InputError if ``data`` is not a ``to_json`` object."""
        try:
            obj = json.loads(data) if isinstance(data, str) else data
        except json.JSONDecodeError as err:
            raise InputError(f"traced text is not JSON: {err}") from err
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise InputError(f"not a {FORMAT} object")
        slots = obj.get("slots")
        terms = obj.get("defined_terms", [])
        if not isinstance(slots, list) or not isinstance(terms, list) or not isinstance(obj.get("invisible"), bool):
            raise InputError("malformed traced text")
        doc = cls(obj.get("canonical"), tuple(Slot.from_json(s) for s in slots), obj["invisible"],
                  tuple(str(t) for t in terms))  # fmt: skip
        doc.check()
        return doc


def as_traced(document: TracedText | str, defined_terms: Sequence[str] = ()) -> TracedText:
    """A ``TracedText``; a plain str gets the automatic variants and no invisible layer.

    Raises InputError if document is neither.
    """
    if isinstance(document, TracedText):
        return document
    if isinstance(document, str):
        canonical, slots = document, automatic_slots(document, defined_terms)
        doc = TracedText(canonical, tuple(slots), False, tuple(defined_terms))
        doc.check()
        return doc
    raise InputError(f"canonical_text must be a str, got {type(document).__name__}")


def document_code(secret: TracingSecret, canonical: str) -> DocumentCode:
    if not isinstance(secret, TracingSecret):
        raise InputError("secret must be a TracingSecret")
    return DocumentCode(secret.key, secret.params, hashlib.sha256(canonical.encode("utf-8")).digest())


def slot_flips(code: DocumentCode, count: int) -> list[int]:
    """Per slot, whether bit 1 is the canonical wording (keyed, so no reader can tell)."""
    return [b & 1 for b in keyed_stream(code.key, b"variant-flip", code.digest, count)]


def bit_at(code: DocumentCode, codeword: int, index: int) -> int:
    return (codeword >> code.permutation[index % code.params.length]) & 1


def copy_cells(doc: TracedText, code: DocumentCode, recipient: str) -> list[str]:
    """The recipient's copy as one string per canonical character: a slot's wording sits in the
    cell of its first character (the others empty), so copies line up cell by cell."""
    word = code.codeword(recipient)
    n = len(doc.slots)
    layout = doc.layout
    cells = embed_cells(doc.canonical, layout, [bit_at(code, word, n + j) for j in range(len(layout.carriers))])
    for k, (slot, flip) in enumerate(zip(doc.slots, slot_flips(code, n), strict=True)):
        choice = bit_at(code, word, k) ^ flip
        cells[slot.start : slot.end] = [slot.alternatives[choice]] + [""] * (slot.end - slot.start - 1)
    return cells


def make_copy(doc: TracedText, code: DocumentCode, recipient: str) -> str:
    """The recipient's copy of ``doc`` (its wording, and the invisible marks if on)."""
    if not doc.invisible:
        word = code.codeword(recipient)
        flips = slot_flips(code, len(doc.slots))
        return render(doc.canonical, doc.slots, [bit_at(code, word, k) ^ f for k, f in enumerate(flips)])
    return "".join(copy_cells(doc, code, recipient))


def changed_word_share(canonical: str, copy: str) -> float:
    """Share of the canonical text's words (whitespace-separated) not found unchanged in ``copy``.

    A word counts as unchanged only if its code points are identical and it lines up with the
    copy (difflib); a mixed-script word, a word with an invisible character inside or a
    different wording all count as changed.
    """
    import difflib

    old, new = canonical.split(), copy.split()
    if not old:
        return 0.0
    same = sum(b.size for b in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks())
    return 1 - same / len(old)
