"""Leak tracing wired into delivery: one copy per recipient member, told apart by its wording, traced offline.

A traced document is rendered to one source text (its positions in issue order,
separated by blank lines) in which the author may write alternatives
(``{within thirty days|within 30 days}``); ``TracedText.prepare`` resolves them
to the canonical text and adds the safe automatic variants (numbers, dates,
"per cent", serial comma, hyphenation, spelling), less those the author vetoed
after ``variant_preview``. ``make_copies`` words one copy per recipient device;
each copy is split back into positions and encrypted to that device alone. The
tracing secret and the traced text (canonical text and its variant slots) travel
inside the same event, in the copies of the sending party's heads of delegation
and of the sending device only (``tracing_holders``): whoever holds a secret
could rebuild anyone's copy and frame its recipient, so it goes only where
accusations are made (docs/tracing.md).

Agreement drafts (``prepare_draft_copies``) are worded from one code per agreement, with slots
placed by their context, and traced with every version of the agreement at once (``trace_leak``).
The mediator reviews a version's variants with ``draft_variant_preview`` and vetoes any by number; a
passage vetoed once stays vetoed in later versions while its context is unchanged (``agreement_vetoes``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from parley.errors import InputError, NotFoundError
from parley.protocol.identity import MemberCertificate
from parley.protocol.record_bodies import TracingRecord, decode_record
from parley.tracing import (
    DraftText,
    TracedText,
    TraceReport,
    TracingSecret,
    agreement_code,
    make_copies,
    parse_alternatives,
    trace,
    trace_drafts,
    visible_mark,
)
from parley.tracing.code import DocumentCode
from parley.tracing.drafts import version_preview, vetoed_contexts

TRACING_SECRET = "tracing.secret"  # noqa: S105 - an event type name
SEPARATOR = "\n\n"
#: the ``kind`` of the tracing record of an agreement version (one code per agreement, docs/tracing.md)
AGREEMENT_DRAFT = "agreement-draft"


def canonical_positions(texts: Mapping[str, str]) -> dict[str, str]:
    """The texts with the author's ``{a|b}`` alternatives resolved to their first wording.

    Raises:
        InputError: a malformed alternative (see ``parse_alternatives``).
    """
    return {key: parse_alternatives(text)[0] for key, text in texts.items()}


def traced_document(order: Sequence[str], texts: Mapping[str, str], *, vetoed: Sequence[int] = (),
                    variants: bool = True) -> TracedText:
    """The traced text of a set of per-issue texts (alternatives written inline are kept as slots).

    Raises:
        InputError: a text contains a blank line (it would be ambiguous), a malformed
            alternative, or a vetoed number that names no variant.
    """
    for key in order:
        if SEPARATOR in texts[key]:
            raise InputError(f"the text on '{key}' must not contain blank lines when tracing is on")
    return TracedText.prepare(SEPARATOR.join(texts[key] for key in order), vetoed=vetoed, automatic=variants)


def variant_preview(texts: Mapping[str, str], vetoed: Sequence[int] = ()) -> list[str]:
    """The wording variants the recipients' copies will differ by, numbered for ``vetoed``.

    Vetoed ones are listed as such, so the numbering stays that of the full list.
    """
    order = tuple(sorted(texts))
    full = traced_document(order, texts)
    lines = full.preview_lines()
    return [line + ("   (vetoed)" if number in set(vetoed) else "") for number, line in enumerate(lines, start=1)]


def split_copy(copy: str, order: Sequence[str]) -> dict[str, str]:
    """Cut a copy back into per-issue texts at the blank lines (no wording holds a blank line).

    Raises:
        InputError: the copy does not have one part per issue.
    """
    parts = copy.split(SEPARATOR)
    if len(parts) != len(order):
        raise InputError("a traced copy could not be split back into its sections")
    return dict(zip(order, parts, strict=True))


@dataclass(frozen=True)
class TracedCopies:
    secret: TracingSecret
    document: TracedText
    order: tuple[str, ...]
    #: device key id -> per-issue marked texts
    copies: dict[str, dict[str, str]]
    #: device key id -> visible copy line
    visible: dict[str, str]
    recipients: dict[str, dict[str, Any]]


    @property
    def canonical(self) -> str:
        return self.document.canonical


def prepare_copies(texts: Mapping[str, str], readers: Sequence[MemberCertificate], names: Mapping[str, str],
                   when: datetime, *, vetoed: Sequence[int] = (), variants: bool = True,
                   wording: bool = True) -> TracedCopies:
    """Each reader device's copy of ``texts`` (its own wording), with its visible copy line.

    ``vetoed`` numbers automatic or written variants as ``variant_preview`` lists them;
    ``variants=False`` keeps only the alternatives the author wrote; ``wording=False`` gives
    every reader the same words (only the visible copy line differs).

    Raises:
        InputError: a text cannot be traced (see ``traced_document``).
    """
    order = tuple(sorted(texts))
    if wording:
        document = traced_document(order, texts, vetoed=vetoed, variants=variants)
    else:
        document = TracedText(SEPARATOR.join(texts[key] for key in order))
    device_ids = [cert.device_key_id for cert in readers]
    secret = TracingSecret.generate(max(len(device_ids), 2))
    worded = make_copies(document, device_ids, secret)
    copies, visible, recipients = {}, {}, {}
    for number, cert in enumerate(readers, start=1):
        copies[cert.device_key_id] = split_copy(worded[cert.device_key_id], order)
        party = names.get(cert.party_id, cert.party_id)
        visible[cert.device_key_id] = visible_mark(cert.member, party, when, number)
        recipients[cert.device_key_id] = {"member": cert.member, "party": party, "copy_no": number}
    return TracedCopies(secret, document, order, copies, visible, recipients)


def secret_content(document_id: str, version: int, traced: TracedCopies) -> dict[str, Any]:
    return {"document_id": document_id, "version": version, "secret": traced.secret.to_json(),
            "canonical": traced.canonical, "document": traced.document.to_json(), "order": list(traced.order),
            "recipients": traced.recipients}


def _document_of(record: TracingRecord) -> TracedText:
    """The traced text a secret event holds; older events (invisible marks only) have none.

    Raises:
        InputError: a record with neither (not one of a memorandum).
    """
    if record.document is not None:
        return TracedText.from_json(record.document)
    if record.canonical is None:
        raise InputError(f"the tracing record of '{record.document_id}' holds no text")
    return TracedText(record.canonical, (), True)


def tracing_holders(readers: Sequence[MemberCertificate], party_id: str, sending_device: str) -> set[str]:
    """Device key ids that receive a document's tracing secret: the sending party's heads and the sending device."""
    return {c.device_key_id for c in readers
            if c.party_id == party_id and (c.role == "head" or c.device_key_id == sending_device)}


def secrets_in_body(body: Mapping[str, Any] | None) -> list[TracingRecord]:
    """The tracing record a decrypted body carries, if any (a delivery or text copy, or an older
    ``tracing.secret`` event), typed; a record that does not match its declaration
    (``record_bodies.TracingRecord``) is left out, so that the tracing never reads a malformed one."""
    if body is None or not isinstance(body.get("content"), Mapping):
        return []
    record = body["content"] if body["type"] == TRACING_SECRET else body["content"].get("tracing")
    if not isinstance(record, Mapping) or "secret" not in record:
        return []
    try:
        return [decode_record(TracingRecord, record)]
    except InputError:
        return []


# ---- agreement drafts: one code per agreement, every version worded from it --------------------------

@dataclass(frozen=True)
class DraftCopies:
    """The wording of one agreement version for each reader device (heads of the mediator's party and the
    posting device, who hold the tracing key, read the canonical text)."""

    agreement_id: str
    secret: TracingSecret
    #: language -> the version's traced text in that language (first language first)
    drafts: dict[str, DraftText]
    holders: frozenset[str]
    code: DocumentCode

    def articles(self, device_key_id: str) -> dict[str, list[str]]:
        """language -> that device's wording of each article."""
        if device_key_id in self.holders:
            return {code: draft.canonical for code, draft in self.drafts.items()}
        return {language: draft.copy(self.code, device_key_id) for language, draft in self.drafts.items()}


def draft_texts(sources: Mapping[str, Sequence[str]], vetoed: Sequence[int] = (),
                earlier: Collection[bytes] = ()) -> dict[str, DraftText]:
    """The traced texts of an agreement version (``sources``: language -> its articles' texts, with the author's
    ``{a|b}`` alternatives), less the slots ``vetoed`` numbers (as ``draft_variant_preview`` lists them) and
    those of passages vetoed in an earlier version (context ids ``earlier``).

    Raises:
        InputError: a malformed alternative, or a vetoed number that names no variant.
    """
    drafts = {language: DraftText.prepare(language, texts) for language, texts in sources.items()}
    dropped = vetoed_contexts(drafts, vetoed) | set(earlier)
    return {language: draft.without(dropped) for language, draft in drafts.items()} if dropped else drafts


def draft_variant_preview(sources: Mapping[str, Sequence[str]], vetoed: Sequence[int] = (),
                          earlier: Collection[bytes] = ()) -> list[str]:
    """The wording variants the readers' copies of an agreement version will differ by, numbered for ``vetoed``
    (every language, article by article); the vetoed ones, and those vetoed in an earlier version, are listed as
    such.

    Raises:
        InputError: a malformed alternative, or a vetoed number that names no variant.
    """
    return version_preview({language: DraftText.prepare(language, texts) for language, texts in sources.items()},
                           vetoed, earlier)


def agreement_vetoes(secrets: Sequence[TracingRecord], agreement_id: str) -> set[bytes]:
    """Context ids of the slots vetoed in any version of an agreement whose tracing record this device holds.

    Raises:
        InputError: a malformed tracing record.
    """
    return {context for s in _drafts_of(secrets, agreement_id)
            for draft in (s.drafts or {}).values() for context in DraftText.from_json(draft).vetoed}


def _drafts_of(secrets: Sequence[TracingRecord], agreement_id: str) -> list[TracingRecord]:
    """The tracing records of an agreement's versions among ``secrets``."""
    return [s for s in secrets if s.kind == AGREEMENT_DRAFT and s.agreement_id == agreement_id]


def prepare_draft_copies(agreement_id: str, sources: Mapping[str, Sequence[str]], holders: set[str], *,
                         secret: TracingSecret | None, n_readers: int, vetoed: Sequence[int] = (),
                         earlier_vetoes: Collection[bytes] = ()) -> DraftCopies:
    """Trace a version of an agreement: ``sources`` maps each language to its articles' texts (with the
    author's ``{a|b}`` alternatives); ``secret`` is the agreement's tracing secret (None for its first traced
    version: a new one, planned for four times ``n_readers`` so that readers who join later fit the code).
    ``vetoed`` and ``earlier_vetoes``: the slots left out (see ``draft_texts``).

    Raises:
        InputError: a malformed alternative, or a vetoed number that names no variant.
    """
    drafts = draft_texts(sources, vetoed, earlier_vetoes)
    secret = secret or TracingSecret.generate(max(4 * n_readers, 8))
    return DraftCopies(agreement_id, secret, drafts, frozenset(holders), agreement_code(secret, agreement_id))


def draft_secret_content(version: int, traced: DraftCopies, recipients: Mapping[str, Any]) -> dict[str, Any]:
    """The tracing record of an agreement version (in the holders' copies of the version's event)."""
    return {"kind": AGREEMENT_DRAFT, "document_id": f"{traced.agreement_id}-v{version}",
            "agreement_id": traced.agreement_id, "version": version, "secret": traced.secret.to_json(),
            "drafts": {code: draft.to_json() for code, draft in traced.drafts.items()},
            "recipients": dict(recipients)}


def agreement_secret(secrets: Sequence[TracingRecord], agreement_id: str) -> TracingSecret | None:
    """The tracing secret of an agreement's drafts held on this device (from its latest traced version).

    Raises:
        InputError: a malformed tracing record.
    """
    records = _drafts_of(secrets, agreement_id)
    if not records:
        return None
    return TracingSecret.from_json(max(records, key=lambda s: s.version or 0).secret)


def _trace_agreement(leaked: str, records: Sequence[TracingRecord]) -> tuple[TracingRecord, TraceReport]:
    """Trace a leak against every version of one agreement (records of one agreement and one secret)."""
    agreement_id = records[0].agreement_id or records[0].document_id
    secret = TracingSecret.from_json(records[0].secret)
    recipients: dict[str, Any] = {}
    drafts = []
    for record in sorted(records, key=lambda r: r.version or 0):
        recipients.update(record.recipients)
        drafts += [(record.version or 0, DraftText.from_json(d)) for d in (record.drafts or {}).values()]
    report = trace_drafts(leaked, agreement_id, drafts, list(recipients), secret)
    version = report.versions[-1] if report.versions else max(r.version or 0 for r in records)
    return (TracingRecord(kind=AGREEMENT_DRAFT, document_id=agreement_id, agreement_id=agreement_id,
                          version=version, versions=list(report.versions), recipients=recipients,
                          secret=records[0].secret), report)


def trace_leak(leaked: str, secrets: Sequence[TracingRecord], document_id: str | None = None, *,
               who_can_trace: Sequence[str] = ()) -> tuple[TracingRecord, TraceReport]:
    """Trace a leaked text against the tracing secrets this device holds.

    Without ``document_id`` every traced document (memorandum, or agreement: all its draft versions
    together) is tried and the one the excerpt matches best is reported. ``who_can_trace`` (names of this
    party's heads) goes into the message when this device holds no secret.

    Raises:
        NotFoundError: no tracing secret (for that document) in the local copy; says who can trace.
    """
    candidates = [s for s in secrets if document_id is None or document_id in (s.document_id, s.agreement_id)]
    if not candidates:
        holders = f" ({', '.join(who_can_trace)})" if who_can_trace else ""
        raise NotFoundError("no tracing secret" + (f" for '{document_id}'" if document_id else "") +
                            " on this device: only the sending party's heads of delegation" + holders +
                            " and the device that sent a document can trace it")
    best: tuple[TracingRecord, TraceReport] | None = None
    agreements: dict[tuple[str | None, str], list[TracingRecord]] = {}
    outcomes = []
    for record in candidates:
        if record.kind == AGREEMENT_DRAFT:
            agreements.setdefault((record.agreement_id, record.secret), []).append(record)
            continue
        secret = TracingSecret.from_json(record.secret)
        outcomes.append((record, trace(leaked, _document_of(record), list(record.recipients), secret)))
    outcomes += [_trace_agreement(leaked, records) for records in agreements.values()]
    for record, report in outcomes:
        if best is None or (report.words_matched, report.best_score) > (best[1].words_matched, best[1].best_score):
            best = (record, report)
    return best


def is_pdf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"%PDF-"


def check_stampable(path: Path, max_bytes: int,
                    hint: str = "deliver the memorandum without tracing, or send the PDF on a channel") -> None:
    """Raises InputError (with ``hint``) unless ``path`` is a PDF whose pages can carry the copy line (readable,
    not encrypted) and of at most ``max_bytes`` (stamping holds it in memory)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if path.stat().st_size > max_bytes:
        raise InputError(f"{path.name} is over {max_bytes // (1024 * 1024)} MB: a PDF that is stamped with each "
                         "reader's copy line for leak tracing is at most that", hint=hint)
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise InputError(f"{path.name} is an encrypted PDF: its pages cannot carry the copy line",
                             hint=f"attach it without a password; or {hint}")
        len(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise InputError(f"cannot read the PDF annex {path.name}: {exc}") from None


def _overlay(width: float, height: float, line: str):  # noqa: ANN202 - a pypdf page
    """A transparent page of that size with the copy line at its top and bottom edges (fpdf2)."""
    import io

    from fpdf import FPDF
    from pypdf import PdfReader

    from parley.client.pdf import unicode_font

    pdf = FPDF(unit="pt", format=(width, height))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    font = unicode_font(pdf)
    pdf.set_font(font, "", 7)
    text = line if font != "helvetica" else line.encode("latin-1", "replace").decode("latin-1")
    pdf.set_text_color(150, 0, 0)
    for y in (4, height - 12):
        pdf.set_xy(0, y)
        pdf.cell(width, 8, text, align="C")
    return PdfReader(io.BytesIO(bytes(pdf.output()))).pages[0]


def stamp_pdf(source: Path, line: str, out: Path, tile: Any = None) -> None:
    """Write ``source`` with the visible copy line stamped at the top and bottom of every page and, with
    ``tile`` (``image_marks.tile_image``), the recipient's image mark over every page.

    Raises:
        InputError: the PDF cannot be read or is encrypted (its pages cannot be stamped).
    """
    from pypdf import PdfReader, PdfWriter
    from pypdf.errors import PdfReadError, PyPdfError

    try:
        reader = PdfReader(str(source))
        if reader.is_encrypted:
            raise InputError(f"{source.name} is an encrypted PDF: its pages cannot carry the copy line",
                             hint="attach it without a password, or deliver the memorandum without tracing")
        writer = PdfWriter(clone_from=reader)
        overlays: dict[tuple[int, int], Any] = {}
        marks: dict[tuple[int, int], Any] = {}
        for page in writer.pages:
            box = page.mediabox
            key = (round(float(box.width)), round(float(box.height)))
            if key not in overlays:
                overlays[key] = _overlay(float(box.width), float(box.height), line)
            if tile is not None:
                if key not in marks:
                    from parley.tracing.image_marks import mark_overlay

                    marks[key] = mark_overlay(float(box.width), float(box.height), tile)
                page.merge_translated_page(marks[key], float(box.left), float(box.bottom))
            page.merge_translated_page(overlays[key], float(box.left), float(box.bottom))
            page.compress_content_streams()  # the merged stream is written uncompressed otherwise
        with out.open("wb") as handle:
            writer.write(handle)
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot stamp the copy line on {source.name}: {exc}") from None


def stamp_copies(source: Path, visible: Mapping[str, str], folder: Path,
                 secret: TracingSecret | None = None) -> dict[str, Path]:
    """One stamped copy of a PDF annex per reader device (device key id -> file in ``folder``); with the
    document's tracing ``secret``, each also carries the reader's image mark (``tracing.image_marks``).

    Raises:
        InputError: the PDF cannot be stamped (see ``stamp_pdf``).
    """
    code = None
    if secret is not None:
        from parley.tracing.image_marks import annex_code, tile_image

        code = annex_code(secret)
    out = {}
    for number, (device, line) in enumerate(sorted(visible.items())):
        path = folder / f"{number}.pdf"
        stamp_pdf(source, line, path, None if code is None else tile_image(code, device))
        out[device] = path
    return out
