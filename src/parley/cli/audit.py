"""``parley trace``, ``parley audit access`` and ``parley memo export``: leaks and who read what."""

from __future__ import annotations

from pathlib import Path

import typer

from parley.cli.common import open_client, options
from parley.cli.output import console, emit, table
from parley.client.workflow import Negotiation
from parley.errors import InputError
from parley.protocol.views import MemorandumView

audit_app = typer.Typer(help="Who fetched what from the relay.", no_args_is_help=True)


def trace_command(
    ctx: typer.Context,
    leaked_file: Path = typer.Argument(..., help="The leak, whole or an excerpt: UTF-8 text, PDF, or an image "
                                                 "(screenshot, photo, scan: its annex image mark, or its text "
                                                 "by OCR)."),
    document: str | None = typer.Option(None, "--document", help="Memorandum or agreement id (default: best "
                                                                   "match; an agreement's drafts are traced "
                                                                   "together, every version)."),
) -> None:
    """Trace a leaked excerpt to the recipient(s) whose copy it came from, offline, from the local copy.

    An image or PDF is first read for the image mark of a traced PDF annex; without one, its text is traced.
    One reading or the other, never both: the false-accusation bound is that of the one made.
    """
    from parley.client.attachments import trace_annex_leak
    from parley.client.tracing import trace_leak
    from parley.tracing.extract import leaked_text

    client = open_client(ctx)
    secrets, heads = [], set()
    for negotiation_id in client.cache.negotiations():
        secrets.extend(Negotiation(client, negotiation_id).tracing_secrets())
        heads.update(Negotiation(client, negotiation_id).tracing_holders())
    annex = trace_annex_leak(leaked_file, secrets, document)
    if annex is not None:
        record, report = annex
    else:
        record, report = trace_leak(leaked_text(leaked_file), secrets, document, who_can_trace=sorted(heads))
    recipients = record.recipients
    data = report.to_json()
    data["document_id"] = record.document_id
    data["version"] = record.version
    if record.kind == "agreement-draft":
        data["agreement_id"] = record.agreement_id
    data["accused_members"] = [{**recipients.get(a.recipient, {}), "device_key_id": a.recipient, "score": a.score,
                                "false_accusation_bound": a.p_bound} for a in report.accused]

    def human() -> None:
        if record.kind == "agreement-draft" and annex is not None:
            console.print(f"Agreement {record.agreement_id}, a PDF annex of its drafts (versions "
                          f"{', '.join(map(str, record.versions or []))})", markup=False)
        elif record.kind == "agreement-draft":
            console.print(f"Agreement {record.agreement_id}, draft version {record.version}", markup=False)
        else:
            console.print(f"Document {record.document_id} (version {record.version})", markup=False)
        if annex is not None:
            console.print("Read from the image mark of its PDF annex (not from its text).", markup=False)
        console.print(report.to_text(), markup=False)
        if annex is None and not report.words_matched:
            console.print("The leak matches none of the traced documents' text.", markup=False)
        for member in data["accused_members"]:
            console.print(f"ACCUSED: {member.get('member')} ({member.get('party')}), copy no. {member.get('copy_no')}",
                          markup=False)

    emit(options(ctx).as_json, data, human)


@audit_app.command("access")
def access(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """The relay's log of every ciphertext fetch in a negotiation: who, which event, when."""
    view = Negotiation(open_client(ctx), negotiation)
    view.sync(receipts=False)
    entries = view.access_log()
    emit(options(ctx).as_json, entries, lambda: table(
        "Ciphertext fetches", ["time", "member", "party", "event", "copy"],
        [(e["fetched_at"], e["member"], e["party"], e["seq"], e["ciphertext"]) for e in entries]))


def _readable_memo(ctx: typer.Context, negotiation: str, memo_id: str) -> tuple[Negotiation, MemorandumView, list]:
    """This member's copy of a memorandum after a verified sync, with its sections titled by key issue.

    Raises:
        InputError: no such memorandum readable by this member.
    """
    view = Negotiation(open_client(ctx), negotiation)
    view.sync(receipts=False)  # memo export and pdf only read
    views = view.views()
    memo = views.memoranda.get(memo_id)
    if memo is None:
        raise InputError(f"no memorandum '{memo_id}' that you can read")

    def title(issue_id: str) -> str:
        return views.issues[issue_id].title if issue_id in views.issues else issue_id

    sections = [(title(i), text) for i, text in memo.positions.items()]
    sections += [(f"{title(i)} (heads of delegation only)", text) for i, text in memo.restricted.items()]
    return view, memo, sections


def export_memo(
    ctx: typer.Context,
    negotiation: str = typer.Argument(..., help="Negotiation id."),
    memo_id: str = typer.Argument(..., help="Memorandum id."),
    out: Path = typer.Option(..., "--out", help="Text file to write."),
) -> None:
    """Write your copy of a memorandum to a text file, with its visible copy line."""
    view, memo, sections = _readable_memo(ctx, negotiation, memo_id)
    lines = [memo.copy or f"Copy for {view.client.profile.member}", "CONFIDENTIAL", "", memo.title, ""]
    for heading, text in sections:
        lines += [heading, text, ""]
    out.write_text("\n".join(lines), encoding="utf-8")
    emit(options(ctx).as_json, {"file": str(out)}, lambda: console.print(f"Wrote {out}"))


def memo_pdf(
    ctx: typer.Context,
    negotiation: str = typer.Argument(..., help="Negotiation id."),
    memo_id: str = typer.Argument(..., help="Memorandum id."),
    out: Path = typer.Option(..., "--out", help="PDF file to write."),
) -> None:
    """Your copy of a memorandum as PDF, with its visible copy line on every page."""
    from parley.client.pdf import memorandum_pdf

    view, memo, sections = _readable_memo(ctx, negotiation, memo_id)
    memorandum_pdf(out, title=memo.title, sections=sections, sender=view.party_names().get(memo.party, ""),
                   delivered_at=memo.delivered_at, copy_line=memo.copy)
    emit(options(ctx).as_json, {"file": str(out)}, lambda: console.print(f"Wrote {out}"))
