"""Orchestration: make the recipients' copies, and trace a leaked excerpt back to recipients."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parley.errors import InputError
from parley.tracing.align import Master, read_excerpt
from parley.tracing.code import DocumentCode, Scorer, false_accusation_bound, threshold
from parley.tracing.marks import Layout, embed, scan, unmark
from parley.tracing.secret import TracingSecret
from parley.tracing.visible import find_visible_mark

# bytearray.translate tables turning per-position "seen" flags (1 = saw 0, 2 = saw 1, 3 = both)
# into ASCII bit strings, so the pirate sequence becomes an int without a per-bit loop
_SAW_ONE = bytes(0x31 if v == 2 else 0x30 for v in range(256))
_SAW_ONE_SYMBOL = bytes(0x31 if v in (1, 2) else 0x30 for v in range(256))


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


def _document(secret: TracingSecret, canonical: str) -> DocumentCode:
    if not isinstance(secret, TracingSecret):
        raise InputError("secret must be a TracingSecret")
    return DocumentCode(secret.key, secret.params, hashlib.sha256(canonical.encode("utf-8")).digest())


def carrier_symbols(code: DocumentCode, layout: Layout, codeword: int) -> list[int]:
    """The bit each carrier holds: carrier k repeats code position permutation[k mod m]."""
    perm, m = code.permutation, code.params.length
    return [(codeword >> perm[k % m]) & 1 for k in range(len(layout.carriers))]


def make_copies(
    canonical_text: str, recipients: Sequence[str], secret: TracingSecret, defined_terms: Sequence[str] = ()
) -> dict[str, str]:
    """Each recipient's invisibly marked copy; ``unmark(copy) == canonical_text`` for every copy.

    The canonical text must be mark-free (``unmark(t) == t``): no zero-width character right
    after a space, no word mixing Latin and Cyrillic look-alikes around anchors of one script.
    Otherwise un-marking could not give it back exactly, so it is refused rather than altered.

    Raises InputError if the text is not mark-free, recipients are empty, not unique strings
    or more than the secret was planned for, or the secret or defined terms are malformed.
    """
    text = _check_text(canonical_text, "canonical_text")
    ids = _check_recipients(recipients)
    if unmark(text) != text:
        raise InputError(
            "canonical text already contains tracing-like marks (zero-width characters after "
            "spaces or mixed Latin/Cyrillic words), so un-marking would not restore it exactly",
            hint="pass unmark(text) as the canonical text, or remove those characters",
        )
    code = _document(secret, text)
    if len(ids) > secret.params.n_recipients:
        raise InputError(
            f"the secret was planned for {secret.params.n_recipients} recipients, got {len(ids)}"
        )
    layout = scan(text, defined_terms)
    return {rid: embed(text, layout, carrier_symbols(code, layout, code.codeword(rid))) for rid in ids}


def capacity(canonical_text: str, defined_terms: Sequence[str] = ()) -> dict[str, float]:
    """Carriers in the text: pairs, gaps and symbols per 1,000 characters.

    Raises InputError if canonical_text is not a str.
    """
    text = _check_text(canonical_text, "canonical_text")
    layout = scan(text, defined_terms)
    per_k = 1000 * len(layout.carriers) / len(text) if text else 0.0
    return {
        "pairs": layout.pairs,
        "gaps": layout.gaps,
        "symbols": len(layout.carriers),
        "per_1000_chars": per_k,
    }


@dataclass(frozen=True)
class Accusation:
    recipient: str
    score: float
    #: bound on the probability that any innocent recipient scores this high
    p_bound: float


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

    def to_json(self) -> dict[str, Any]:
        return {
            "accused": [
                {"recipient": a.recipient, "score": a.score, "p_bound": a.p_bound} for a in self.accused
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
            "verdict": "accusation" if self.accused else "no accusation",
        }

    def to_text(self) -> str:
        z = f"{self.threshold:.1f}" if math.isfinite(self.threshold) else "none (nothing read)"
        lines = [
            f"Leak trace over {self.n_recipients} recipients (code length {self.code_length}): "
            f"{self.symbols_read} symbols read, {self.symbols_erased} erased, {self.conflicts} conflicting.",
            f"Threshold {z}; probability of accusing any innocent recipient <= {self.epsilon:.0e}.",
        ]
        if self.visible_mark:
            lines.append(f"Visible copy line found: {self.visible_mark}")
        if not self.accused:
            lines.append(f"no accusation (best score {self.best_score:.1f})")
        for a in self.accused:
            lines.append(
                f"ACCUSED {a.recipient}: score {a.score:.1f} (innocent this high: p <= {a.p_bound:.1e})"
            )
        return "\n".join(lines)

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


@dataclass(frozen=True)
class LeakReading:
    """The pirate sequence read from a leak, ready to score any codeword of the document."""

    code: DocumentCode
    scorer: Scorer
    erased: int
    conflicts: int
    words_matched: int


def read_leak(
    leaked_text: str, canonical_text: str, secret: TracingSecret, defined_terms: Sequence[str] = ()
) -> LeakReading:
    """Align the leak to the master and turn the carriers read into a pirate sequence.

    Raises InputError if a text is not a str or the secret is malformed.
    """
    leaked = _check_text(leaked_text, "leaked_text")
    text = _check_text(canonical_text, "canonical_text")
    code = _document(secret, text)
    layout = scan(text, defined_terms)
    reading = read_excerpt(leaked, Master(text, layout))
    m = code.params.length
    seen = bytearray(m)
    for k, bit in reading.symbols:
        seen[code.permutation[k % m]] |= 1 << bit
    # a position read as both 0 and 1 (colluders' pieces disagree) is treated as erased
    observed = int(bytes(seen).translate(_SAW_ONE)[::-1], 2)
    read_mask = int(bytes(seen).translate(_SAW_ONE_SYMBOL)[::-1], 2)
    return LeakReading(
        code, code.scorer(observed, read_mask), reading.erased, seen.count(3), reading.words_matched
    )


def trace(
    leaked_text: str,
    canonical_text: str,
    recipients: Sequence[str],
    secret: TracingSecret,
    defined_terms: Sequence[str] = (),
) -> TraceReport:
    """Align the leak to the master, read its symbols, score every recipient, accuse above Z.

    ``defined_terms`` must be those given to ``make_copies`` (they change the carrier layout).
    Nobody scoring below the threshold is ever accused; the threshold bounds the probability
    of accusing any innocent among ``recipients`` by the secret's epsilon, whatever the
    leakers did, as long as they hold no innocent's copy.

    Raises InputError if a text is not a str, or recipients or the secret are malformed.
    """
    ids = _check_recipients(recipients)
    leak = read_leak(leaked_text, canonical_text, secret, defined_terms)
    scorer, code = leak.scorer, leak.code
    symbols = scorer.symbols
    eps = secret.params.epsilon
    biases = secret.params.biases
    z = threshold(symbols, len(ids), eps, biases)
    scores = {rid: scorer.score(code.codeword(rid)) for rid in ids}
    accused = [
        Accusation(rid, s, false_accusation_bound(s, symbols, len(ids), biases))
        for rid, s in sorted(scores.items(), key=lambda kv: -kv[1])
        if s >= z
    ]
    mark = find_visible_mark(leaked_text)
    return TraceReport(
        accused=accused,
        threshold=z,
        epsilon=eps,
        n_recipients=len(ids),
        code_length=code.params.length,
        symbols_read=symbols,
        symbols_erased=leak.erased,
        conflicts=leak.conflicts,
        words_matched=leak.words_matched,
        best_score=max(scores.values()),
        visible_mark=(
            f"Copy for {mark.name}, {mark.party}, {mark.when:%Y-%m-%d %H:%M} UTC, copy no. {mark.copy_no}"
            if mark
            else None
        ),
        scores=scores,
    )
