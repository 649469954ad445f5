"""``parley zopa``: a blind check that a zone of possible agreement exists on one issue.

Each party's head enters a private reservation value and a direction; the parties learn only whether
the ranges meet (and, if both agreed beforehand, the midpoint). See docs/zopa.md.
"""

from __future__ import annotations

import os

import typer

from parley.cli.common import open_client, options
from parley.cli.output import console, emit, table
from parley.client.workflow import Negotiation
from parley.client.zopa import ZopaDesk
from parley.crypto.comparison import DIRECTIONS
from parley.errors import InputError

app = typer.Typer(help="Blind check that a deal zone exists on an issue (nobody learns the other's number).",
                  no_args_is_help=True)
VALUE_ENV = "PARLEY_ZOPA_VALUE"


def _desk(ctx: typer.Context, negotiation_id: str) -> ZopaDesk:
    return ZopaDesk(Negotiation(open_client(ctx), negotiation_id))


def _show(ctx: typer.Context, status: dict) -> None:
    def human() -> None:
        names = status.get("party_names", {})
        console.print(f"check {status['check_id']} on '{status.get('issue', status['issue_id'])}' "
                      f"(round {status['round_id']}): [bold]{status['status']}[/bold]")
        console.print("parties: " + ", ".join(names.get(p, p) for p in status["parties"]))
        if status["waiting_for"]:
            console.print("waiting for: " + ", ".join(names.get(p, p) for p in status["waiting_for"])
                          + (" (you: run 'parley zopa step')" if status.get("my_turn") else ""))
        if status["status"] == "overlap":
            console.print("[bold green]The ranges meet: there is a zone of possible agreement.[/bold green]")
        elif status["status"] == "no-overlap":
            console.print("[bold yellow]The ranges do not meet.[/bold yellow]")
        if status.get("midpoint") is not None:
            console.print(f"split point (midpoint of the two limits): {status['midpoint']}")
        if status.get("aborted_by"):
            console.print(f"aborted by {names.get(status['aborted_by'], status['aborted_by'])}: "
                          f"{status.get('abort_reason') or ''}")

    emit(options(ctx).as_json, status, human)


@app.command("open")
def open_check(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
               issue: str = typer.Option(..., "--issue", help="Agenda issue id."),
               with_: list[str] = typer.Option(..., "--with", help="Another party (name or id); repeatable."),
               split: bool = typer.Option(False, "--split", help="Offer the midpoint if the ranges meet (two "
                                          "parties; each must agree when committing; it discloses both limits).")) -> None:
    """Open a check on an issue with other parties (heads of delegation only)."""
    desk = _desk(ctx, negotiation)
    check_id = desk.open(issue, with_, split=split)
    emit(options(ctx).as_json, {"check_id": check_id},
         lambda: console.print(f"Opened zopa check {check_id}. Next: parley zopa commit {negotiation} {check_id}"))


@app.command("commit")
def commit(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
           check: str = typer.Argument(..., help="Check id."),
           direction: str = typer.Option(..., "--direction", help=f"One of {', '.join(DIRECTIONS)}: you accept "
                                         "any outcome at least (or at most) your value."),
           allow_split: bool = typer.Option(False, "--allow-split", help="Agree to learn and disclose the midpoint "
                                            "of the two limits if the ranges meet.")) -> None:
    """Commit your private reservation value: your one try on this issue in this round.

    The value is read from $PARLEY_ZOPA_VALUE or asked for without echo (never a command-line argument,
    which would stay in the shell history).
    """
    raw = os.environ.get(VALUE_ENV)
    if raw is None:
        raw = typer.prompt("Reservation value (whole number, 0 to 4294967295)", hide_input=True)
    try:
        value = int(raw.strip())
    except ValueError:
        raise InputError("a reservation value is a whole number from 0 to 4294967295") from None
    _show(ctx, _desk(ctx, negotiation).commit(check, value, direction, allow_split=allow_split))


@app.command("step")
def step(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
         check: str = typer.Argument(..., help="Check id.")) -> None:
    """Sync and send whatever you owe next (your shares, the split mask or point); show the check."""
    _show(ctx, _desk(ctx, negotiation).advance(check))


@app.command("show")
def show(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
         check: str | None = typer.Argument(None, help="Check id (default: list every check).")) -> None:
    """Show one check, or list the checks of a negotiation."""
    desk = _desk(ctx, negotiation)
    if check is not None:
        _show(ctx, desk.status(check))
        return
    rows = desk.checks()
    emit(options(ctx).as_json, rows, lambda: table(
        "zopa checks", ["check", "issue", "round", "parties", "status", "waiting for"],
        [(r["check_id"], r["issue_id"], r["round_id"], ", ".join(r["party_names"].get(p, p) for p in r["parties"]),
          r["status"], ", ".join(r["party_names"].get(p, p) for p in r["waiting_for"])) for r in rows]))


@app.command("abort")
def abort(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
          check: str = typer.Argument(..., help="Check id."),
          reason: str = typer.Option("", "--reason", help="Shown to the other parties.")) -> None:
    """Stop a check before its outcome (your try on the issue stays spent)."""
    _show(ctx, _desk(ctx, negotiation).abort(check, reason))
