"""Leak tracing wired into delivery: one invisibly marked copy per recipient member, traced offline.

A traced document is rendered to one canonical text (its positions in issue
order, separated by blank lines); ``parley.tracing.make_copies`` marks one copy
per recipient device; each copy is split back into positions and encrypted to
that device alone. The tracing secret, the canonical text and the recipient
list go into a ``tracing.secret`` event readable by the sender's own party
only, so any member of the sender party can later trace a leak offline from
its local cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parley.errors import InputError, NotFoundError
from parley.protocol.identity import MemberCertificate
from parley.tracing import TraceReport, TracingSecret, make_copies, trace, unmark, visible_mark

TRACING_SECRET = "tracing.secret"  # noqa: S105 - an event type name
SEPARATOR = "\n\n"
_ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060"}


def canonical_document(order: Sequence[str], texts: Mapping[str, str]) -> str:
    """The canonical text of a set of per-issue texts.

    Raises:
        InputError: a text contains a blank line (it would be ambiguous) or tracing-like marks.
    """
    for key in order:
        text = texts[key]
        if SEPARATOR in text:
            raise InputError(f"the text on '{key}' must not contain blank lines when tracing is on")
        if unmark(text) != text:
            raise InputError(f"the text on '{key}' contains zero-width or mixed-script characters")
    return SEPARATOR.join(texts[key] for key in order)


def split_marked(marked: str, canonical: str, order: Sequence[str]) -> dict[str, str]:
    """Cut a marked copy back into per-issue texts at the canonical separators.

    Marks substitute letters one for one and insert zero-width characters, so
    walking both texts side by side maps every canonical offset to the copy.
    """
    separator_starts = set()
    start = 0
    while (found := canonical.find(SEPARATOR, start)) != -1:
        separator_starts.add(found)
        start = found + len(SEPARATOR)
    parts, current, j = [], [], 0
    i = 0
    while i < len(marked):
        ch = marked[i]
        if j in separator_starts and marked.startswith(SEPARATOR, i):
            parts.append("".join(current))
            current = []
            i += len(SEPARATOR)
            j += len(SEPARATOR)
            continue
        if ch in _ZERO_WIDTH and (j >= len(canonical) or canonical[j] != ch):
            current.append(ch)
            i += 1
            continue
        current.append(ch)
        i += 1
        j += 1
    parts.append("".join(current))
    if len(parts) != len(order):
        raise InputError("a marked copy could not be split back into its sections")
    return dict(zip(order, parts, strict=True))


@dataclass(frozen=True)
class TracedCopies:
    secret: TracingSecret
    canonical: str
    order: tuple[str, ...]
    #: device key id -> per-issue marked texts
    copies: dict[str, dict[str, str]]
    #: device key id -> visible copy line
    visible: dict[str, str]
    recipients: dict[str, dict[str, Any]]


def prepare_copies(texts: Mapping[str, str], readers: Sequence[MemberCertificate], names: Mapping[str, str],
                   when: datetime) -> TracedCopies:
    """Marked copies of ``texts`` for each reader device, with their visible copy lines.

    Raises:
        InputError: a text cannot be marked (see ``canonical_document``).
    """
    order = tuple(sorted(texts))
    canonical = canonical_document(order, texts)
    device_ids = [cert.device_key_id for cert in readers]
    secret = TracingSecret.generate(max(len(device_ids), 2))
    marked = make_copies(canonical, device_ids, secret)
    copies, visible, recipients = {}, {}, {}
    for number, cert in enumerate(readers, start=1):
        copies[cert.device_key_id] = split_marked(marked[cert.device_key_id], canonical, order)
        party = names.get(cert.party_id, cert.party_id)
        visible[cert.device_key_id] = visible_mark(cert.member, party, when, number)
        recipients[cert.device_key_id] = {"member": cert.member, "party": party, "copy_no": number}
    return TracedCopies(secret, canonical, order, copies, visible, recipients)


def secret_content(document_id: str, version: int, traced: TracedCopies) -> dict[str, Any]:
    return {"document_id": document_id, "version": version, "secret": traced.secret.to_json(),
            "canonical": traced.canonical, "order": list(traced.order), "recipients": traced.recipients}


def trace_leak(leaked: str, secrets: Sequence[Mapping[str, Any]], document_id: str | None = None) -> tuple[dict, TraceReport]:
    """Trace a leaked text against the tracing secrets this party holds.

    Without ``document_id`` every traced document is tried and the one the excerpt
    matches best is reported.

    Raises:
        NotFoundError: no tracing secret (for that document) in the local copy.
    """
    candidates = [s for s in secrets if document_id is None or s["document_id"] == document_id]
    if not candidates:
        raise NotFoundError("no traced document" + (f" '{document_id}'" if document_id else "") +
                            " in this profile's local copy (only the sending party can trace)")
    best: tuple[dict, TraceReport] | None = None
    for content in candidates:
        secret = TracingSecret.from_json(content["secret"])
        report = trace(leaked, content["canonical"], list(content["recipients"]), secret)
        if best is None or (report.words_matched, report.best_score) > (best[1].words_matched, best[1].best_score):
            best = (dict(content), report)
    return best
