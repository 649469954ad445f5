"""``parley agreement ...``, ``parley verify BUNDLE`` and ``parley statement``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from parley.cli.common import confirm, open_client, open_negotiation, options
from parley.cli.output import console, emit, table
from parley.cli.workflow import _when
from parley.client.agreement import AgreementDesk
from parley.client.bundle import verify_bundle
from parley.errors import InputError

agreement_app = typer.Typer(help="The single negotiating text, signatures, release and publication.",
                            no_args_is_help=True)


def _desk(ctx: typer.Context, negotiation_id: str, *, read: bool = False) -> AgreementDesk:
    return AgreementDesk(open_negotiation(ctx, open_client(ctx), negotiation_id, read=read))


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
    language: str | None = typer.Option(None, "--language", help="Language of --title/--article (default en)."),
    translation: list[str] = typer.Option(
        None, "--translation", help="LANG=FILE: the same articles in another language, a JSON {title, articles} "
                                    "file (repeatable); every text equally authentic unless --prevailing."),
    prevailing: str | None = typer.Option(None, "--prevailing", help="The language that prevails in case of "
                                                                     "divergence (default: none, equally authentic)."),
    annex: list[Path] = typer.Option(None, "--annex", help="A file annexed to this version (repeatable); heads "
                                                           "sign the text with the annexes' names, sizes and "
                                                           "SHA-256. Without --annex the version keeps the "
                                                           "previous version's annexes."),
    no_annexes: bool = typer.Option(False, "--no-annexes", help="This version has no annexes."),
    preview_variants: bool = typer.Option(False, "--preview-variants",
                                          help="List the wording variants that tell the copies apart, post nothing."),
    no_variant: list[int] = typer.Option(None, "--no-variant",
                                         help="Veto variant N of --preview-variants (repeatable)."),
    no_annex_mark: bool = typer.Option(False, "--no-annex-mark",
                                       help="Stamp annexed PDFs with each reader's copy line only, without the "
                                            "faint image mark over their pages."),
) -> None:
    """Post the next version of the single negotiating text (mediator), in one language or several.

    Each reader's copy differs in wording, to trace leaks: the alternatives you write as {a|b} in an
    article (the first is the canonical wording) and safe automatic variants, one code for every version.
    See them with --preview-variants; veto any with --no-variant N (a passage vetoed stays so in later
    versions while it is unchanged). An annexed PDF reaches each reader of the draft with its copy line on
    every page and a faint keyed speckle (its image mark); finalize hands every party the canonical file.
    """
    if annex and no_annexes:
        raise InputError("--annex and --no-annexes exclude each other")
    translations = {}
    for value in translation or []:
        code, sep, path = value.partition("=")
        if not sep:
            raise InputError(f"--translation must be LANG=FILE, got '{value}'")
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the {code} text from {path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("articles"), list):
            raise InputError(f"the {code} text file holds a JSON object {{title, articles: [{{heading, text}}]}}")
        translations[code.strip()] = data
    if preview_variants:
        if no_tracing:
            raise InputError("--preview-variants lists the variants of a traced version: drop --no-tracing")
        lines = _desk(ctx, negotiation).variant_preview(
            agreement_id, title, _articles(article or [], articles_file), language=language,
            translations=translations or None, prevailing=prevailing, vetoed=no_variant or [])
        emit(options(ctx).as_json, {"variants": lines}, lambda: console.print(
            "\n".join(lines) if lines else "No wording variants: the copies would differ only by their copy line.",
            markup=False))
        return
    version = _desk(ctx, negotiation).post_text(agreement_id, title, _articles(article or [], articles_file),
                                                tracing=not no_tracing, language=language,
                                                translations=translations or None, prevailing=prevailing,
                                                annexes=[] if no_annexes else (annex or None),
                                                vetoed_variants=no_variant or [], annex_marks=not no_annex_mark)
    emit(options(ctx).as_json, {"version": version}, lambda: console.print(f"Version {version} posted."))


@agreement_app.command("list")
def list_agreements(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """Agreements you can read: id, title, version, state."""
    rows = _desk(ctx, negotiation, read=True).list()
    emit(options(ctx).as_json, rows, lambda: table(
        "Agreements", ["id", "title", "version", "state", "signed by"],
        [(r["agreement_id"], r["title"], r["version"], r["state"], ", ".join(r["signed_by"]) or "-") for r in rows]))


def _print_agreement(summary: dict) -> None:
    out = console.print
    out(f"[bold]{escape(summary['title'])}[/bold] ({summary['agreement_id']}), version {summary['version']}: "
        f"[bold]{summary['state'].upper()}[/bold]")
    if summary.get("copy"):
        out(summary["copy"], markup=False)
    languages = summary.get("languages") or []
    if len(languages) > 1:
        out(f"Authentic texts: {summary['authenticity']}", markup=False)
    for index, article in enumerate(summary["articles"]):
        objected = f"  [objected by {', '.join(article['objected_by'])}]" if article["objected_by"] else ""
        per_language = "" if len(languages) < 2 else "; " + ", ".join(
            f"{code}: {summary['articles_by_language'][code][index]['status']}" for code in languages)
        out(f"\n[bold]Article {article['number']}. {escape(article['heading'])}[/bold] "
            f"({escape(article['status'] + per_language)}){escape(objected)}")
        out(article["text"], markup=False)
    out(f"\ntext SHA-256: {summary['text_sha256']}" + ("" if summary["finalized"] else " (not finalized)"),
        markup=False)
    if summary.get("worded"):
        out("This draft is worded for you alone (leak tracing); the SHA-256 is that of the canonical text, "
            "which finalize hands every party to sign.", markup=False)
    for annex in summary.get("annexes", []):
        out(f"annex {annex['attachment_id']}: {annex['name']} ({annex['size']} bytes, SHA-256 {annex['sha256']})",
            markup=False)
        if annex.get("copy"):
            out(f"    your copy, stamped for you alone (leak tracing): {annex['copy']['size']} bytes, SHA-256 "
                f"{annex['copy']['sha256']}; finalize hands every party the file named above", markup=False)
    out(f"signed by: {', '.join(summary['signed_by']) or '-'}; awaiting signature: "
        f"{', '.join(summary['awaiting_signature']) or '-'}; consented to release: "
        f"{', '.join(summary['consented']) or '-'}", markup=False)
    for violation in summary.get("violations", []):
        out(f"VIOLATION (not counted): {violation}", style="bold red", markup=False)


@agreement_app.command("show")
def show(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...)) -> None:
    """The text of every article, its SHA-256, objections, signatures and consents, and the state."""
    summary = _desk(ctx, negotiation, read=True).summary(agreement_id)
    emit(options(ctx).as_json, summary, lambda: _print_agreement(summary))


@agreement_app.command("object")
def object_(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
            article: int = typer.Option(..., "--article"), text: str = typer.Option(..., "--text"),
            kind: str = typer.Option("objection", "--kind", help="objection, comment or withdraw."),
            language: str | None = typer.Option(None, "--language", help="Only this language's text of the article "
                                                                         "(default: the article in every language).")
            ) -> None:
    """Object to, comment on, or withdraw an objection to an article."""
    posted = _desk(ctx, negotiation).object(agreement_id, article, text, kind, language=language)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Posted."))


@agreement_app.command("redline")
def redline(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
            old: int = typer.Argument(...), new: int = typer.Argument(...),
            language: str | None = typer.Option(None, "--language", help="Which language's text (default: the "
                                                                         "first).")) -> None:
    """Changes between two versions of the text, in one language."""
    diff = _desk(ctx, negotiation, read=True).redline(agreement_id, old, new, language)
    emit(options(ctx).as_json, {"redline": diff}, lambda: print(diff or "(no changes)"))


@agreement_app.command("finalize")
def finalize(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
             override: bool = typer.Option(False, "--override", help="Finalize despite open objections."),
             reason: str | None = typer.Option(None, "--reason", help="Why (required with --override)."),
             sign_by: str | None = typer.Option(None, "--sign-by", help="Deadline for every party's signature.")) -> None:
    """Freeze the text and its SHA-256 (mediator's head)."""
    digest = _desk(ctx, negotiation).finalize(agreement_id, override=override, reason=reason,
                                              sign_by=_when(sign_by) if sign_by else None)
    emit(options(ctx).as_json, {"text_sha256": digest}, lambda: console.print(f"Finalized: {digest}"))


@agreement_app.command("sign")
def sign(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
         yes: bool = typer.Option(False, "--yes", help="Do not ask (scripts): sign the text shown by 'show'.")) -> None:
    """Sign the finalized text with SSHSIG (heads of delegation), after showing it, its digest and who signed."""
    desk = _desk(ctx, negotiation)
    summary = desk.summary(agreement_id)
    if not options(ctx).as_json:
        _print_agreement(summary)
    party = desk.negotiation.party_names().get(desk.negotiation.own_party, "your party")
    confirm(f"Sign this text (SHA-256 {summary['text_sha256'][:16]}...) on behalf of {party}?", yes)
    posted = desk.sign(agreement_id, expected_sha256=summary["text_sha256"])
    emit(options(ctx).as_json, {"seq": posted.seq, "text_sha256": summary["text_sha256"]},
         lambda: console.print(f"Signed on behalf of {party}: text SHA-256 {summary['text_sha256']}.", markup=False))


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
    archive = _desk(ctx, negotiation, read=True).bundle(agreement_id, out)
    emit(options(ctx).as_json, {"folder": str(out), "zip": str(archive)},
         lambda: console.print(f"Wrote {out} and {archive}"))


@agreement_app.command("annex")
def annex(ctx: typer.Context, negotiation: str = typer.Argument(...), attachment_id: str = typer.Argument(
              ..., help="The annex's id, as 'agreement show' lists it."),
          out: Path = typer.Option(..., "--out")) -> None:
    """Save an annex of an agreement version (checked against the size and SHA-256 the version lists)."""
    path = _desk(ctx, negotiation).negotiation.save_attachment(attachment_id, out)
    emit(options(ctx).as_json, {"file": str(path)}, lambda: console.print(f"Wrote {path}"))


@agreement_app.command("pdf")
def pdf(ctx: typer.Context, negotiation: str = typer.Argument(...), agreement_id: str = typer.Argument(...),
        out: Path = typer.Option(..., "--out")) -> None:
    """The signed agreement as PDF, with the signature block (not while sealed)."""
    path = _desk(ctx, negotiation, read=True).pdf(agreement_id, out)
    emit(options(ctx).as_json, {"file": str(path)}, lambda: console.print(f"Wrote {path}"))


def verify_command(ctx: typer.Context, bundle_path: Path = typer.Argument(..., help="Bundle folder or .zip."),
                   require_cosignatures: str | None = typer.Option(
                       None, "--require-cosignatures", metavar="all|K",
                       help="Also require the C2SP cosignatures of every signing party ('all') or of K of them.")
                   ) -> None:
    """Verify a publication bundle offline, with no relay: exit 0 when valid, 1 when not, naming what failed."""
    report = verify_bundle(bundle_path, require_cosignatures)

    def human() -> None:
        for item in report["checked"]:
            console.print(f"ok    {item}", markup=False)
        for failure in report["failures"]:
            console.print(f"FAIL  {failure}", markup=False)
        for warning in report.get("warnings", []):
            console.print(f"WARN  {warning}", markup=False)
        console.print("VALID" if report["valid"] else "INVALID")

    emit(options(ctx).as_json, report, human)
    if not report["valid"]:
        raise typer.Exit(1)


def statement_command(ctx: typer.Context, negotiation: str = typer.Argument(...), text: str = typer.Argument(...)) -> None:
    """Post a public statement (a joint communiqué): cleartext, shown on the relay's public page."""
    client = open_client(ctx)
    posted = client.public_statement(negotiation, text)
    emit(options(ctx).as_json, {"seq": posted.seq}, lambda: console.print("Statement published."))
