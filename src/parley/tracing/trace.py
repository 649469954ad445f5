"""Orchestration: make the recipients' copies, and trace a leaked excerpt back to recipients.

Each mark layer (``wording``, ``homoglyph``, ``zero-width``) is read and scored on its own,
and each is also scored read upside down (a reader who swaps U+200B and U+200C, or turns
every wording into the other, inverts a layer: read back inverted it names him again).  With
T such tests the threshold of each bounds its false-accusation probability by epsilon / T,
so the union over tests and innocents stays below epsilon: tampering with one layer can lower
that layer's score but never the others', and never raises an innocent's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from parley.errors import InputError
from parley.tracing.align import Master, read_excerpt
from parley.tracing.code import DocumentCode, Scorer, reading_false_accusation_bound, reading_threshold
from parley.tracing.document import TracedText, as_traced, document_code, make_copy, slot_flips
from parley.tracing.drafts import DraftText, agreement_code, read_drafts
from parley.tracing.secret import TracingSecret
from parley.tracing.variants import BRITISH_TO_AMERICAN, Slot
from parley.tracing.visible import find_visible_mark
from parley.tracing.wording import WordingMaster, read_wording

CHANNELS = ("wording", "homoglyph", "zero-width")
_SAW_ONE = bytes(0x31 if v == 2 else 0x30 for v in range(256))
_SAW_ONE_SYMBOL = bytes(0x31 if v in (1, 2) else 0x30 for v in range(256))
#: a kind read in one form at this many slots, improbable for a genuine copy, is reported
_NORMALISED_MIN_SLOTS = 6
_NORMALISED_P = 1e-3


def _check_text(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise InputError(f"{what} must be a str, got {type(text).__name__}")
    return text


def _check_recipients(recipients: Sequence[str]) -> list[str]:
    if isinstance(recipients, str) or not isinstance(recipients, Sequence):
        raise InputError("recipients must be a sequence of recipient ids")
    ids = list(recipients)
    if not ids:
        raise InputError("at least one recipient is needed")
    for rid in ids:
        if not isinstance(rid, str) or not rid:
            raise InputError(f"recipient ids must be non-empty strings, got {rid!r}")
    if len(set(ids)) != len(ids):
        raise InputError("recipient ids must be unique")
    return ids


def make_copies(
    document: TracedText | str,
    recipients: Sequence[str],
    secret: TracingSecret,
    defined_terms: Sequence[str] = (),
) -> dict[str, str]:
    """Each recipient's copy of a document (see ``TracedText`` for the layers).

    A plain str is traced by its automatic wording variants only.  With the invisible layers
    on, the canonical text must be mark-free (``unmark(t) == t``).

    Raises InputError if the text is not a str or ``TracedText``, is not mark-free with the
    invisible layers on, recipients are empty, not unique strings or more than the secret was
    planned for, or the secret or defined terms are malformed.
    """
    doc = as_traced(document, defined_terms)
    doc.check()
    ids = _check_recipients(recipients)
    code = document_code(secret, doc.canonical)
    if len(ids) > secret.params.n_recipients:
        raise InputError(f"the secret was planned for {secret.params.n_recipients} recipients, got {len(ids)}")
    return {rid: make_copy(doc, code, rid) for rid in ids}


def capacity(document: TracedText | str, defined_terms: Sequence[str] = ()) -> dict[str, float]:
    """Mark symbols a text carries: wording slots by kind, invisible carriers, symbols per 1,000 words.

    Raises InputError if the document is not a str or ``TracedText``.
    """
    doc = as_traced(document, defined_terms)
    words = len(doc.canonical.split())
    kinds: dict[str, float] = {}
    for slot in doc.slots:
        kinds[slot.kind] = kinds.get(slot.kind, 0) + 1
    symbols = len(doc.slots) + len(doc.layout.carriers)
    return {
        "slots": len(doc.slots),
        **{f"slots_{k}": v for k, v in sorted(kinds.items())},
        "pairs": doc.layout.pairs,
        "gaps": doc.layout.gaps,
        "symbols": symbols,
        "words": words,
        "slots_per_1000_words": 1000 * len(doc.slots) / words if words else 0.0,
        "per_1000_chars": 1000 * symbols / len(doc.canonical) if doc.canonical else 0.0,
    }


@dataclass(frozen=True)
class Accusation:
    recipient: str
    score: float
    #: bound on the probability that any innocent recipient scores this high (all tests)
    p_bound: float
    #: the layer whose score accused ("wording", "zero-width inverted", "all layers"...)
    layer: str = "wording"


@dataclass(frozen=True)
class ChannelReading:
    """What one layer of marks gave: symbols read, located but unreadable, the scorer."""

    name: str
    located: int
    unreadable: int
    conflicts: int
    scorer: Scorer


@dataclass(frozen=True)
class LeakReading:
    """The pirate sequences read from a leak, one per layer, ready to score codewords."""

    code: DocumentCode
    channels: list[ChannelReading]
    #: the union of every layer's symbols (positions read differently by two layers erased)
    scorer: Scorer
    erased: int
    conflicts: int
    words_matched: int
    notes: list[str]


def _scorer(code: DocumentCode, reads: Sequence[tuple[int, int]]) -> tuple[Scorer, int]:
    """Scorer of (code index, bit) reads; code indices wrap onto the keyed permutation."""
    m = code.params.length
    return scorer_at(code, [(code.permutation[k % m], bit) for k, bit in reads])


def scorer_at(code: DocumentCode, reads: Sequence[tuple[int, int]]) -> tuple[Scorer, int]:
    """Scorer of (code position, bit) reads, and how many positions were read both ways (erased)."""
    m = code.params.length
    seen = bytearray(m)
    for position, bit in reads:
        seen[position] |= 1 << bit
    observed = int(bytes(seen).translate(_SAW_ONE)[::-1], 2) if m else 0
    read_mask = int(bytes(seen).translate(_SAW_ONE_SYMBOL)[::-1], 2) if m else 0
    return code.scorer(observed, read_mask), seen.count(3)


def _form(slot: Slot, alternative: int) -> str | None:
    text = slot.alternatives[alternative]
    if slot.kind == "number":
        return "digits" if any(ch.isdigit() for ch in text) else "words"
    if slot.kind == "percent":
        return "%" if "%" in text else ("per cent" if "per cent" in text else "percent")
    if slot.kind == "date":
        return "day month year" if text[:1].isdigit() else "month day, year"
    if slot.kind == "serial-comma":
        return "with the serial comma" if text.startswith(",") else "without the serial comma"
    if slot.kind == "hyphenation":
        return "hyphenated" if "-" in text else "not hyphenated"
    if slot.kind == "spelling":
        return "British spelling" if text.lower() in BRITISH_TO_AMERICAN else "American spelling"
    return None


def _normalisation_notes(doc: TracedText, code: DocumentCode, read: Mapping[int, int]) -> list[str]:
    """Kinds of automatic variant of a memorandum read in one form everywhere, improbable for a genuine copy."""
    flips = slot_flips(code, len(doc.slots))
    m = code.params.length
    return normalisation_notes(code, [(doc.slots[k], alt, code.permutation[k % m], flips[k])
                                      for k, alt in read.items()])


def normalisation_notes(code: DocumentCode, slots_read: Sequence[tuple[Slot, int, int, int]]) -> list[str]:
    """Kinds of automatic variant read in one form everywhere, improbable for a genuine copy.

    ``slots_read``: per slot read, (slot, wording read, its code position, its flip: bit = wording ^ flip).
    """
    groups: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for slot, alt, position, flip in slots_read:
        form = _form(slot, alt)
        if form is not None:
            groups.setdefault((slot.kind, form), []).append((alt, position, flip))
    notes = []
    for kind in sorted({kind for kind, _ in groups}):
        forms = {form: ks for (knd, form), ks in groups.items() if knd == kind}
        if len(forms) != 1:
            continue
        (form, ks), = forms.items()
        if len(ks) < _NORMALISED_MIN_SLOTS:
            continue
        log_p = 0.0
        for alt, pos, flip in ks:
            p = next(t for t, mask in zip(code.thresholds, code.class_masks, strict=True) if mask >> pos & 1) / 256
            log_p += math.log(p if alt ^ flip else 1 - p)
        if log_p < math.log(_NORMALISED_P):
            notes.append(
                f"wording normalised: all {len(ks)} {kind} variants read {form} "
                f"(a genuine copy reads so with probability {math.exp(log_p):.0e})"
            )
    return notes


def altered_notes(unreadable: int, located: int) -> list[str]:
    """The note on wording slots located in a leak that read neither wording (none if there are none)."""
    if not unreadable:
        return []
    return [f"wording altered at {unreadable} of {located} located variant slots (neither wording there)"]


@lru_cache(maxsize=4)
def _wording_master(doc: TracedText) -> WordingMaster:
    # tracing several leaks of one document (the benchmark, a batch) indexes its text once
    return WordingMaster(doc.canonical, doc.slots)


def read_leak(
    leaked_text: str, document: TracedText | str, secret: TracingSecret, defined_terms: Sequence[str] = ()
) -> LeakReading:
    """Read every layer of marks from a leak.

    Raises InputError if the leak is not a str, or the document or secret are malformed.
    """
    leaked = _check_text(leaked_text, "leaked_text")
    doc = as_traced(document, defined_terms)
    code = document_code(secret, doc.canonical)
    notes: list[str] = []
    n_slots = len(doc.slots)
    wording = read_wording(leaked, _wording_master(doc))
    flips = slot_flips(code, n_slots)
    per_channel: dict[str, list[tuple[int, int]]] = {
        "wording": [(k, alt ^ flips[k]) for k, alt in wording.read.items()]
    }
    located = {"wording": len(wording.read) + len(wording.unreadable)}
    unreadable = {"wording": len(wording.unreadable)}
    words_matched = wording.tokens_matched
    notes += altered_notes(len(wording.unreadable), located["wording"])
    notes += _normalisation_notes(doc, code, wording.read)
    if doc.invisible:
        layout = doc.layout
        reading = read_excerpt(leaked, Master(doc.canonical, layout))
        words_matched = max(words_matched, reading.words_matched)
        per_channel["homoglyph"], per_channel["zero-width"] = [], []
        for k, bit in reading.symbols:
            per_channel["zero-width" if layout.carriers[k][1] < 0 else "homoglyph"].append((n_slots + k, bit))
        for name in ("homoglyph", "zero-width"):
            erased = sum(1 for k in reading.erased_carriers if (layout.carriers[k][1] < 0) == (name == "zero-width"))
            unreadable[name] = erased
            located[name] = erased + len(per_channel[name])
            if erased:
                what = "zero-width characters missing or altered" if name == "zero-width" else (
                    "look-alike letters folded or mixed")
                notes.append(f"marks scrubbed: {what} at {erased} of {located[name]} located carriers")
    channels = []
    for name, reads in per_channel.items():
        scorer, conflicts = _scorer(code, reads)
        channels.append(ChannelReading(name, located[name], unreadable[name], conflicts, scorer))
    union, conflicts = _scorer(code, [r for reads in per_channel.values() for r in reads])
    erased = sum(unreadable.values())
    return LeakReading(code, channels, union, erased, conflicts, words_matched, notes)


@dataclass(frozen=True)
class TraceReport:
    """The outcome of ``trace``: accused recipients (highest score first) or nobody."""

    accused: list[Accusation]
    threshold: float
    epsilon: float
    n_recipients: int
    code_length: int
    symbols_read: int
    symbols_erased: int
    conflicts: int
    words_matched: int
    best_score: float
    visible_mark: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict, repr=False)
    #: per layer: symbols read, located, unreadable
    layers: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: what the leak shows of marks removed or altered ("marks scrubbed: ...")
    tampering: list[str] = field(default_factory=list)
    #: an agreement's drafts: the versions whose text the leak matches best
    versions: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "accused": [
                {"recipient": a.recipient, "score": a.score, "p_bound": a.p_bound, "layer": a.layer}
                for a in self.accused
            ],
            "threshold": self.threshold if math.isfinite(self.threshold) else None,
            "false_accusation_bound": self.epsilon,
            "n_recipients": self.n_recipients,
            "code_length": self.code_length,
            "symbols_read": self.symbols_read,
            "symbols_erased": self.symbols_erased,
            "conflicts": self.conflicts,
            "words_matched": self.words_matched,
            "best_score": self.best_score,
            "visible_mark": self.visible_mark,
            "layers": {k: dict(v) for k, v in self.layers.items()},
            "tampering": list(self.tampering),
            **({"versions": list(self.versions)} if self.versions else {}),
            "verdict": "accusation" if self.accused else "no accusation",
        }

    def to_text(self) -> str:
        z = f"{self.threshold:.1f}" if math.isfinite(self.threshold) else "none (nothing read)"
        layers = "; ".join(
            f"{name} {v['read']} read of {v['located']} located" for name, v in self.layers.items()
        )
        lines = [
            f"Leak trace over {self.n_recipients} recipients (code length {self.code_length}): "
            f"{self.symbols_read} symbols read, {self.symbols_erased} erased, {self.conflicts} conflicting.",
            f"Layers: {layers or 'none'}.",
            f"Threshold {z}; probability of accusing any innocent recipient <= {self.epsilon:.0e}.",
        ]
        if self.versions:
            lines.append("The excerpt matches the text of draft version "
                         + ", ".join(str(v) for v in self.versions) + ".")
        if self.visible_mark:
            lines.append(f"Visible copy line found: {self.visible_mark}")
        lines += self.tampering
        if not self.accused:
            lines.append(f"no accusation (best score {self.best_score:.1f})")
        for a in self.accused:
            lines.append(
                f"ACCUSED {a.recipient}: score {a.score:.1f} on the {a.layer} layer "
                f"(innocent this high: p <= {a.p_bound:.1e})"
            )
        return "\n".join(lines)

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


def trace(
    leaked_text: str,
    document: TracedText | str,
    recipients: Sequence[str],
    secret: TracingSecret,
    defined_terms: Sequence[str] = (),
) -> TraceReport:
    """Read each layer of the leak, score every recipient per layer, accuse above the threshold.

    Nobody scoring below every threshold is accused; together they bound the probability of
    accusing any innocent among ``recipients`` by the secret's epsilon, whatever the leakers
    did to any layer, as long as they hold no innocent's copy.

    Raises InputError if the leak is not a str, or recipients, document or secret are malformed.
    """
    ids = _check_recipients(recipients)
    return judge(leaked_text, read_leak(leaked_text, document, secret, defined_terms), ids, secret)


def trace_drafts(
    leaked_text: str,
    agreement_id: str,
    drafts: Sequence[tuple[int, DraftText]],
    recipients: Sequence[str],
    secret: TracingSecret,
) -> TraceReport:
    """``trace`` for a leak of an agreement's drafts: read against every version (``drafts``: (version,
    text in one language) pairs), one codeword per reader across versions. The report names the versions
    whose text the leak matches best (``versions``) and, as for memoranda, wording altered or normalised
    (``tampering``).

    Raises InputError if the leak is not a str, or recipients, drafts or secret are malformed.
    """
    ids = _check_recipients(recipients)
    code = agreement_code(secret, agreement_id)
    reading = read_drafts(_check_text(leaked_text, "leaked_text"), drafts, code)
    scorer, conflicts = scorer_at(code, reading.reads)
    # the memoranda's notes, on the slots read in any version (each once)
    notes = altered_notes(reading.unreadable, reading.located) + normalisation_notes(code, reading.slots_read)
    channel = ChannelReading("wording", reading.located, reading.unreadable, conflicts, scorer)
    leak = LeakReading(code, [channel], scorer, reading.unreadable, conflicts, reading.words_matched, notes)
    best = max(reading.versions.values(), default=0)
    versions = tuple(sorted(v for v, words in reading.versions.items() if best and words == best))
    return replace(judge(leaked_text, leak, ids, secret), versions=versions)


def judge(leaked_text: str, leak: LeakReading, ids: Sequence[str], secret: TracingSecret) -> TraceReport:
    """Score every recipient on each layer of a reading (and each layer read inverted), accuse above the
    thresholds; the report of ``trace``."""
    code = leak.code
    n = len(ids)
    eps = secret.params.epsilon
    tests: list[tuple[str, Scorer]] = []
    for ch in leak.channels:
        if ch.scorer.symbols:
            s = ch.scorer
            tests.append((ch.name, s))
            tests.append((f"{ch.name} inverted", Scorer(code, s.observed ^ s.read_mask, s.read_mask)))
    if sum(1 for ch in leak.channels if ch.scorer.symbols) > 1:
        tests.append(("all layers", leak.scorer))
    eps_each = eps / max(1, len(tests))
    codewords = {rid: code.codeword(rid) for rid in ids}
    best: dict[str, tuple[float, float, str, Scorer]] = {}  # rid -> (score / z, score, layer, its reading)
    primary_z = math.inf
    primary_scores: dict[str, float] = {rid: 0.0 for rid in ids}
    inverted: list[str] = []  # layers whose inverted reading crossed its threshold
    for index, (name, scorer) in enumerate(tests):
        z = reading_threshold(scorer, n, eps_each)
        scores = {rid: scorer.score(w) for rid, w in codewords.items()}
        if index == 0:
            primary_z, primary_scores = z, scores
        if name.endswith(" inverted") and max(scores.values()) >= z:
            inverted.append(name.removesuffix(" inverted"))
        for rid, s in scores.items():
            if s >= z and (rid not in best or s / z > best[rid][0]):
                best[rid] = (s / z, s, name, scorer)
    accused = [
        Accusation(rid, s, min(1.0, len(tests) * reading_false_accusation_bound(reading, s, n)), layer)
        for rid, (_, s, layer, reading) in sorted(best.items(), key=lambda kv: -kv[1][0])
    ]
    tampering = list(leak.notes)
    if accused:
        top = accused[0]
        for layer in inverted:
            tampering.append(
                f"marks altered: the {layer} layer reads inverted"
                + (" (U+200B and U+200C swapped)" if layer == "zero-width" else "")
                + "; read the right way round it names the recipient(s) below"
            )
        z_top = reading_threshold(next(s for nm, s in tests if nm == top.layer), n, eps_each)
        for ch in leak.channels:
            if ch.scorer.symbols >= 40 and not top.layer.startswith(ch.name) and top.layer != "all layers":
                own = ch.scorer.score(codewords[top.recipient])
                if abs(own) < reading_threshold(ch.scorer, n, eps_each) / 2:
                    tampering.append(
                        f"marks altered: the {ch.name} layer does not match {top.recipient}'s copy "
                        "(randomised, or taken from other copies)"
                    )
    else:
        z_top = primary_z
    mark = find_visible_mark(leaked_text)
    read = {ch.name: ch.scorer.symbols for ch in leak.channels}
    return TraceReport(
        accused=accused,
        threshold=z_top,
        epsilon=eps,
        n_recipients=n,
        code_length=code.params.length,
        symbols_read=leak.scorer.symbols,
        symbols_erased=leak.erased,
        conflicts=leak.conflicts,
        words_matched=leak.words_matched,
        best_score=max(primary_scores.values()),
        visible_mark=(
            f"Copy for {mark.name}, {mark.party}, {mark.when:%Y-%m-%d %H:%M} UTC, copy no. {mark.copy_no}"
            if mark
            else None
        ),
        scores=primary_scores,
        layers={
            ch.name: {"read": read[ch.name], "located": ch.located, "unreadable": ch.unreadable}
            for ch in leak.channels
        },
        tampering=tampering,
    )
