"""Agreement drafts: each reader's wording of every version of one text, under one code per agreement.

A memorandum is one document with its own code. The mediator's single negotiating text is many
versions of one document, read by the same readers again and again. Were each version coded afresh,
a reader holding versions 1 and 2 would hold two unrelated codewords (one leaker looking like two
colluders) and his redline would show every variant drawn anew. So an agreement has one keyed code,
and a slot's code position and the wording that stands for bit 1 come from a keyed hash of the
slot's *context*: the language, up to ``CONTEXT_TOKENS`` words of canonical text on each side
(within its article) and its two wordings. A slot that a new version leaves untouched keeps its
position, so each reader keeps his wording there and his redline shows the edits only; a slot
next to an edit is a new slot (in a line the redline shows anyway).

Each version and language is a ``DraftText``: the traced text of every article (canonical text and
slots) and each slot's context id. Reading a leak tries every version, and the symbols read are
pooled by code position: they are all one codeword's, whichever version they came from.

The mediator may veto slots of a version before posting it (``numbered_slots``, ``version_preview``,
``veto``): a vetoed slot is not a slot of that version, every reader reads its canonical wording, and its
context id is kept with the version (``vetoed``) so that a later version leaves the same passage alone
too. No other slot moves: a slot's position never depends on which other slots a version has.

Whatever a leak holds, what is read from it depends on the leakers' copies only, never on an
innocent's codeword: the Chernoff threshold of ``trace`` bounds false accusations as for memoranda.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from parley.errors import InputError
from parley.tracing.code import DocumentCode, keyed_stream
from parley.tracing.document import TracedText
from parley.tracing.secret import TracingSecret
from parley.tracing.variants import Slot, preview, render
from parley.tracing.wording import WordingMaster, read_wording, tokens

FORMAT = "parley-draft-text/1"
#: canonical words on each side of a slot that make its context (its position in the code)
CONTEXT_TOKENS = 4
#: what separates articles in the text a leak is read against (articles themselves may hold blank lines)
ARTICLE_BREAK = "\n\n"
_SENTENCE_END = re.compile(r"[.!?;:\u2026](?=\s)|\n")


def agreement_code(secret: TracingSecret, agreement_id: str) -> DocumentCode:
    """The one code of an agreement: every version of its text is worded from it.

    Raises InputError if the secret is not a TracingSecret or the id is not a non-empty str.
    """
    if not isinstance(secret, TracingSecret):
        raise InputError("secret must be a TracingSecret")
    if not isinstance(agreement_id, str) or not agreement_id:
        raise InputError("an agreement id is a non-empty string")
    return DocumentCode(secret.key, secret.params,
                        hashlib.sha256(b"parley-agreement-draft|" + agreement_id.encode("utf-8")).digest())


def slot_context(text: str, slot: Slot, language: str) -> bytes:
    """The id of a slot of an article's canonical ``text``: a hash of its language, its two wordings and
    the canonical words around it in its sentence (``CONTEXT_TOKENS`` each side). Whitespace and line
    breaks do not count."""
    # within the slot's sentence: an edit in the sentence before or after leaves the slot as it was
    opening = [m.end() for m in _SENTENCE_END.finditer(text, 0, slot.start)]
    closing = _SENTENCE_END.search(text, slot.end)
    before = tokens(text[opening[-1] if opening else 0 : slot.start])[-CONTEXT_TOKENS:]
    after = tokens(text[slot.end : closing.start() if closing else len(text)])[:CONTEXT_TOKENS]
    data = json.dumps([language, before, *slot.alternatives, after], ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).digest()[:16]


def placement(code: DocumentCode, context: bytes) -> tuple[int, int]:
    """(code position, flip) of the slot with this context id: keyed, so no reader can tell them."""
    raw = keyed_stream(code.key, b"draft-slot", code.digest + context, 9)
    return int.from_bytes(raw[:8], "big") % code.params.length, raw[8] & 1


@dataclass(frozen=True)
class DraftText:
    """One version's text in one language, as traced: each article's traced text and its slots' context ids."""

    language: str
    articles: tuple[TracedText, ...]
    contexts: tuple[tuple[bytes, ...], ...]
    #: context ids of the slots the mediator vetoed in this version (read in canonical wording by all)
    vetoed: tuple[bytes, ...] = ()
    _joined: list[TracedText] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def prepare(cls, language: str, sources: Sequence[str], *, automatic: bool = True) -> DraftText:
        """Parse each article's ``{a|b}`` alternatives and (``automatic``) find its safe automatic variants.

        Raises InputError on a malformed alternative (see ``parse_alternatives``).
        """
        articles = tuple(TracedText.prepare(source, automatic=automatic) for source in sources)
        return cls(language, articles, tuple(tuple(slot_context(a.canonical, s, language) for s in a.slots)
                                             for a in articles))

    def without(self, contexts: Collection[bytes]) -> DraftText:
        """This text less the slots whose context id is in ``contexts`` (vetoed: every reader gets the canonical
        wording there); the ids dropped are added to ``vetoed``. The slots kept keep their context ids, hence
        their code positions."""
        drop = set(contexts)
        articles, ids, vetoed = [], [], list(self.vetoed)
        for article, article_ids in zip(self.articles, self.contexts, strict=True):
            keep = [k for k, context in enumerate(article_ids) if context not in drop]
            vetoed += [c for c in article_ids if c in drop and c not in vetoed]
            articles.append(TracedText(article.canonical, tuple(article.slots[k] for k in keep), article.invisible,
                                       article.defined_terms))
            ids.append(tuple(article_ids[k] for k in keep))
        return DraftText(self.language, tuple(articles), tuple(ids), tuple(vetoed))

    @property
    def canonical(self) -> list[str]:
        """Each article's canonical text (what every party hashes, finalizes and signs)."""
        return [a.canonical for a in self.articles]

    @property
    def joined(self) -> TracedText:
        """The articles as one traced text (``ARTICLE_BREAK`` between them), to read leaks against."""
        if not self._joined:
            parts, slots, offset = [], [], 0
            for article in self.articles:
                slots += [Slot(s.start + offset, s.end + offset, s.alternatives, s.kind) for s in article.slots]
                parts.append(article.canonical)
                offset += len(article.canonical) + len(ARTICLE_BREAK)
            self._joined.append(TracedText(ARTICLE_BREAK.join(parts), tuple(slots)))
        return self._joined[0]

    @property
    def flat_contexts(self) -> list[bytes]:
        return [c for article in self.contexts for c in article]

    def copy(self, code: DocumentCode, recipient: str) -> list[str]:
        """The recipient's wording of each article."""
        word = code.codeword(recipient)
        out = []
        for article, contexts in zip(self.articles, self.contexts, strict=True):
            choices = []
            for context in contexts:
                position, flip = placement(code, context)
                choices.append((word >> position & 1) ^ flip)
            out.append(render(article.canonical, article.slots, choices))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "language": self.language, "articles": [a.to_json() for a in self.articles],
                "contexts": [[c.hex() for c in article] for article in self.contexts],
                **({"vetoed": [c.hex() for c in self.vetoed]} if self.vetoed else {})}

    @classmethod
    def from_json(cls, data: object) -> DraftText:
        """Raises InputError if ``data`` is not a ``to_json`` object."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise InputError(f"not a {FORMAT} object")
        articles, contexts, vetoed = data.get("articles"), data.get("contexts"), data.get("vetoed", [])
        if (not isinstance(data.get("language"), str) or not isinstance(articles, list)
                or not isinstance(contexts, list) or len(articles) != len(contexts) or not isinstance(vetoed, list)):
            raise InputError("malformed draft text")
        traced = tuple(TracedText.from_json(a) for a in articles)
        try:
            ids = tuple(tuple(bytes.fromhex(c) for c in article) for article in contexts)
            vetoed_ids = tuple(bytes.fromhex(c) for c in vetoed)
        except (TypeError, ValueError):
            raise InputError("malformed draft text: slot contexts are hex") from None
        if any(len(t.slots) != len(c) for t, c in zip(traced, ids, strict=True)):
            raise InputError("malformed draft text: one context per slot")
        return cls(data["language"], traced, ids, vetoed_ids)


@dataclass(frozen=True)
class NumberedSlot:
    """A slot of a version as the mediator reviews it: its number in the preview, where it is, its context id."""

    number: int
    language: str
    article: int
    slot: Slot
    context: bytes


def numbered_slots(drafts: Mapping[str, DraftText]) -> list[NumberedSlot]:
    """Every slot of a version's texts (``drafts``: language -> text, first language first), numbered from 1:
    each language in order, its articles in order, each article's slots in order."""
    found = []
    for language, draft in drafts.items():
        for article, (traced, contexts) in enumerate(zip(draft.articles, draft.contexts, strict=True), start=1):
            found += [NumberedSlot(len(found) + k, language, article, slot, context)
                      for k, (slot, context) in enumerate(zip(traced.slots, contexts, strict=True), start=1)]
    return found


def vetoed_contexts(drafts: Mapping[str, DraftText], numbers: Sequence[int]) -> set[bytes]:
    """The context ids of the slots ``numbers`` name (as ``numbered_slots`` numbers them).

    Raises InputError if a number names no slot.
    """
    slots = numbered_slots(drafts)
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(slots):
            raise InputError(f"no variant number {number!r} to veto (the preview lists 1..{len(slots)})")
    return {slots[number - 1].context for number in numbers}


def version_preview(drafts: Mapping[str, DraftText], vetoed: Sequence[int] = (),
                    earlier: Collection[bytes] = ()) -> list[str]:
    """The slots of a version as the mediator reviews them before posting it: the memoranda's preview lines
    (``preview``), numbered for ``vetoed`` across every article and language, each naming its article; the
    slots ``vetoed`` names, and those of passages vetoed in an earlier version (context ids ``earlier``), are
    listed as vetoed, so the numbering stays that of the full list.

    Raises InputError if a vetoed number names no slot.
    """
    chosen = vetoed_contexts(drafts, vetoed)
    several = len(drafts) > 1
    lines = []
    for found in numbered_slots(drafts):
        text = drafts[found.language].articles[found.article - 1].canonical
        where = f"article {found.article}" + (f", {found.language}" if several else "")
        mark = ("   (vetoed)" if found.context in chosen
                else "   (vetoed in an earlier version)" if found.context in earlier else "")
        lines.append(f"{preview(text, [found.slot], first=found.number)[0]}   ({where}){mark}")
    return lines


@dataclass(frozen=True)
class DraftReading:
    """What a leak shows of an agreement's drafts: (code position, bit) reads pooled over versions."""

    reads: list[tuple[int, int]]
    #: per slot read (once, whichever versions read it): (slot, wording read, code position, flip)
    slots_read: list[tuple[Slot, int, int, int]]
    located: int
    unreadable: int
    words_matched: int
    #: version -> tokens of the leak matched to that version's text (best first)
    versions: dict[int, int]


@lru_cache(maxsize=64)
def _master(doc: TracedText) -> WordingMaster:
    return WordingMaster(doc.canonical, doc.slots)


def read_drafts(leaked: str, drafts: Sequence[tuple[int, DraftText]], code: DocumentCode) -> DraftReading:
    """Read a leak against every version's text (each language), pooling the symbols by code position.

    A slot read in one version and located but unreadable in another counts as read; a position read
    as 0 through one slot and 1 through another is kept twice (``trace`` counts it as a conflict and
    erases it). A slot vetoed in any version is not read in any: the vetoed version gives every reader
    its canonical wording, which another version's slot in the same passage would read as a symbol of
    nobody's codeword.

    Raises InputError if the leak is not a str.
    """
    if not isinstance(leaked, str):
        raise InputError(f"leaked_text must be a str, got {type(leaked).__name__}")
    reads: dict[bytes, tuple[Slot, int, int, int]] = {}
    unread: dict[int, set[bytes]] = {}
    matched: dict[int, int] = {}
    vetoed = {context for _, draft in drafts for context in draft.vetoed}
    for version, draft in drafts:
        reading = read_wording(leaked, _master(draft.joined))
        contexts = draft.flat_contexts
        for k, alternative in reading.read.items():
            if contexts[k] not in vetoed:
                position, flip = placement(code, contexts[k])
                reads[contexts[k]] = (draft.joined.slots[k], alternative, position, flip)
        unread.setdefault(version, set()).update(contexts[k] for k in reading.unreadable if contexts[k] not in vetoed)
        matched[version] = max(matched.get(version, 0), reading.tokens_matched)
    ranked = dict(sorted(matched.items(), key=lambda kv: (-kv[1], -kv[0])))
    # wording altered: slots of the version the leak matches best that no version's text reads
    # (another version's slot that the edit replaced is not altered wording)
    unread_best = unread.get(next(iter(ranked)), set()) - set(reads) if ranked else set()
    return DraftReading([(position, alternative ^ flip) for _, alternative, position, flip in reads.values()],
                        list(reads.values()), len(reads) + len(unread_best), len(unread_best),
                        max(matched.values(), default=0), ranked)
