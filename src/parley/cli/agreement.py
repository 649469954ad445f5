"""``parley agreement ...``, ``parley verify BUNDLE`` and ``parley statement``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from parley.cli.common import open_client, options
from parley.cli.output import console, emit, table
from parley.client.agreement import AgreementDesk
from parley.client.bundle import verify_bundle
from parley.client.workflow import Negotiation
from parley.errors import InputError

agreement_app = typer.Typer(help="The single negotiating text, signatures, release and publication.",
                            no_args_is_help=True)


def _desk(ctx: typer.Context, negotiation_id: str) -> AgreementDesk:
    negotiation = Negotiation(open_client(ctx), negotiation_id)
    negotiation.sync()
    return AgreementDesk(negotiation)


def _articles(values: list[str], file: Path | None) -> list[dict[str, str]]:
    if file is not None:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read articles from {file}: {exc}") from None
        if not isinstance(data, list):
            raise InputError("the articles file holds a JSON list of {heading, text}")
        return data
    articles = []
    for value in values:
        heading, sep, text = value.partition("=")
        if not sep:
            raise InputError(f"--article must be HEADING=TEXT, got '{value}'")
        articles.append({"heading": heading.strip(), "text": text.strip()})
    return articles


@agreement_app.command("text")
def post_text(
    ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
    title: str = typer.Option(..., "--title"),
    article: list[str] = typer.Option(None, "--article", help="HEADING=TEXT, repeatable, in order."),
    articles_file: Path | None = typer.Option(None, "--file", help="JSON list of {heading, text}."),
    no_tracing: bool = typer.Option(False, "--no-tracing", help="Send identical copies (no leak tracing)."),
) -> None:
    """Post the next version of the single negotiating text (mediator)."""
    version = _desk(ctx, negotiation).post_text(agreement_id, title, _articles(article or [], articles_file),
                                                tracing=not no_tracing)
    emit(options(ctx).as_json, {"version": version}, lambda: console.print(f"Version {version} posted."))


@agreement_app.command("show")
def show(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...)) -> None:
    """State (drafting, sealed, released), articles with objections, signatures and consents."""
    summary = _desk(ctx, negotiation).summary(agreement_id)

    def human() -> None:
        console.print(f"[bold]{summary['title']}[/bold] v{summary['version']}: [bold]{summary['state'].upper()}[/bold]")
        table("Articles", ["#", "heading", "status", "objected by"],
              [(a["number"], a["heading"], a["status"], ", ".join(a["objected_by"])) for a in summary["articles"]])
        console.print(f"signed by: {', '.join(summary['signed_by']) or '-'}; awaiting: "
                      f"{', '.join(summary['awaiting_signature']) or '-'}; consented to release: "
                      f"{', '.join(summary['consented']) or '-'}")

    emit(options(ctx).as_json, summary, human)


@agreement_app.command("object")
def object_(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
            article: int = typer.Option(..., "--article"), text: str = typer.Option(..., "--text"),
            kind: str = typer.Option("objection", "--kind", help="objection, comment or withdraw.")) -> None:
    """Object to, comment on, or withdraw an objection to an article."""
    posted = _desk(ctx, negotiation).object(agreement_id, article, text, kind)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Posted."))


@agreement_app.command("redline")
def redline(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
            old: int = typer.Argument(...), new: int = typer.Argument(...)) -> None:
    """Changes between two versions of the text."""
    diff = _desk(ctx, negotiation).redline(agreement_id, old, new)
    emit(options(ctx).as_json, {"redline": diff}, lambda: print(diff or "(no changes)"))


@agreement_app.command("finalize")
def finalize(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
             override: bool = typer.Option(False, "--override", help="Finalize despite open objections."),
             reason: str | None = typer.Option(None, "--reason", help="Why (required with --override).")) -> None:
    """Freeze the text and its SHA-256 (mediator's head)."""
    digest = _desk(ctx, negotiation).finalize(agreement_id, override=override, reason=reason)
    emit(options(ctx).as_json, {"text_sha256": digest}, lambda: console.print(f"Finalized: {digest}"))


@agreement_app.command("sign")
def sign(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...)) -> None:
    """Sign the finalized text with SSHSIG (heads of delegation)."""
    posted = _desk(ctx, negotiation).sign(agreement_id)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Signed."))


@agreement_app.command("release")
def release(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...)) -> None:
    """Consent to release the signed agreement (heads of delegation)."""
    posted = _desk(ctx, negotiation).consent_to_release(agreement_id)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Release consent given."))


@agreement_app.command("publish")
def publish(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...)) -> None:
    """Publish the released agreement; the relay then serves it at /public/agreements/ID."""
    posted = _desk(ctx, negotiation).publish(agreement_id)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Published."))


@agreement_app.command("bundle")
def bundle(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
           out: Path = typer.Option(..., "--out", help="Folder to write (a .zip is written beside it).")) -> None:
    """Write the publication bundle (folder and zip) of a published agreement."""
    archive = _desk(ctx, negotiation).bundle(agreement_id, out)
    emit(options(ctx).as_json, {"folder": str(out), "zip": str(archive)},
         lambda: console.print(f"Wrote {out} and {archive}"))


@agreement_app.command("pdf")
def pdf(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
        out: Path = typer.Option(..., "--out")) -> None:
    """The signed agreement as PDF, with the signature block (not while sealed)."""
    path = _desk(ctx, negotiation).pdf(agreement_id, out)
    emit(options(ctx).as_json, {"file": str(path)}, lambda: console.print(f"Wrote {path}"))


def verify_command(ctx: typer.Context, bundle_path: Path = typer.Argument(..., help="Bundle folder or .zip.")) -> None:
    """Verify a publication bundle offline, with no relay: exit 0 when valid, 1 when not, naming what failed."""
    report = verify_bundle(bundle_path)

    def human() -> None:
        for item in report["checked"]:
            console.print(f"ok    {item}", markup=False)
        for failure in report["failures"]:
            console.print(f"FAIL  {failure}", markup=False)
        console.print("VALID" if report["valid"] else "INVALID")

    emit(options(ctx).as_json, report, human)
    if not report["valid"]:
        raise typer.Exit(1)


def statement_command(ctx: typer.Context, negotiation: str = typer.Argument(...), text: str = typer.Argument(...)) -> None:
    """Post a public statement (a joint communiqué): cleartext, shown on the relay's public page."""
    client = open_client(ctx)
    posted = client.public_statement(negotiation, text)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Statement published."))
