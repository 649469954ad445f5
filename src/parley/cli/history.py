"""``parley history ...``: grant earlier content to a new device or a late party (heads of delegation)."""

from __future__ import annotations

import typer

from parley.cli.common import open_client, options, resolve_party
from parley.cli.output import console, emit, table

app = typer.Typer(help="Earlier content for a new device or a late party: granted by a head, in the log.",
                  no_args_is_help=True)


@app.command("grant")
def grant_command(
    ctx: typer.Context,
    negotiation: str = typer.Argument(...),
    device: list[str] | None = typer.Option(None, "--device", help="Device key id to grant to (repeatable)."),
    party: str | None = typer.Option(None, "--party", help="A party (name or id) admitted late: all its members."),
    seq: list[int] | None = typer.Option(None, "--seq", help="Only this log position (repeatable; default: all "
                                         "you may grant)."),
) -> None:
    """Re-encrypt earlier events to a new device or a late party (a head of delegation; your party's own
    words to anyone in the negotiation, what your party received to your party's own new devices only)."""
    from parley.client.grants import grant_history

    client = open_client(ctx)
    party_id = None if party is None else resolve_party(client, party)
    posted = grant_history(client, negotiation, devices=device or None, party=party_id, seqs=seq or None)
    emit(options(ctx).as_json, [{"seq": p.seq, "event_id": p.event_id} for p in posted],
         lambda: console.print(f"Granted in {len(posted)} event(s) of the log."))


@app.command("refused")
def refused_command(ctx: typer.Context, negotiation: str = typer.Argument(...)) -> None:
    """Grants this device refused (not a head, not the party's to grant, restricted to other roles)."""
    from parley.client.grants import refused_grants
    from parley.client.workflow import Negotiation

    client = open_client(ctx)
    Negotiation(client, negotiation).sync(receipts=False)  # a read: it posts nothing
    rows = refused_grants(client, negotiation)
    emit(options(ctx).as_json, rows, lambda: table("Refused grants", ["grant at", "event", "why"],
                                                    [(r["grant_seq"], r["event_seq"], r["reason"]) for r in rows]))
