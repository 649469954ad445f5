"""``parley negotiation``, ``parley message`` and ``parley log`` commands."""

from __future__ import annotations

import typer
from rich.markup import escape

from parley.cli.common import open_client, options, resolve_party
from parley.cli.output import console, emit, table
from parley.client.sdk import verify_log
from parley.client.workflow import Negotiation
from parley.crypto.fingerprint import fingerprint_digits
from parley.errors import InputError

negotiation_app = typer.Typer(help="Open, join and inspect negotiations.", no_args_is_help=True)
message_app = typer.Typer(help="Plain encrypted messages between parties.", no_args_is_help=True)
log_app = typer.Typer(help="The tamper-evident log of a negotiation.", no_args_is_help=True)


@negotiation_app.command("create")
def create(ctx: typer.Context,
           title: str | None = typer.Option(None, "--title", help="A title the parties see (never the relay).")) -> None:
    """Open a new negotiation convened by your party; prints its id alone (``ID=$(parley negotiation create)``)."""
    if title is not None and not title.strip():
        raise InputError("the title must not be empty")
    client = open_client(ctx)
    negotiation_id = client.create_negotiation()
    if title is not None:
        Negotiation(client, negotiation_id).set_title(title)
    emit(options(ctx).as_json, {"negotiation_id": negotiation_id, "title": title}, lambda: print(negotiation_id))


@negotiation_app.command("invite")
def invite(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
           party: str = typer.Argument(..., help="Party name or id (pinned with 'parley party trust').")) -> None:
    """Invite a party into a negotiation."""
    client = open_client(ctx)
    posted = client.invite(negotiation, resolve_party(client, party))
    emit(options(ctx).as_json, {"seq": posted.seq, "event_id": posted.event_id},
         lambda: console.print(f"Invited {party} (event {posted.seq})."))


@negotiation_app.command("join")
def join(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """Accept your party's invitation to a negotiation."""
    client = open_client(ctx)
    posted = client.join(negotiation)
    emit(options(ctx).as_json, {"seq": posted.seq, "event_id": posted.event_id},
         lambda: console.print(f"Joined {negotiation} (event {posted.seq})."))


@negotiation_app.command("list")
def list_negotiations(ctx: typer.Context) -> None:
    """Negotiations your party takes part in, with their titles (after a verified sync of each)."""
    client = open_client(ctx)
    rows = []
    for row in client.negotiations():
        client.sync(row["negotiation_id"])  # verified, and the title may have arrived since
        rows.append({**row, "title": Negotiation(client, row["negotiation_id"]).title()})
    emit(options(ctx).as_json, rows, lambda: table(
        "Negotiations", ["id", "title", "events"],
        [(r["negotiation_id"], r["title"] or "(untitled)", r["size"]) for r in rows]))


@negotiation_app.command("sync")
def sync(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """Fetch and verify new events, then send what your client owes the talks: delivery receipts for
    memoranda delivered to your party, a head's party verifications, the title to parties that joined
    after it was set. (Reading commands post nothing.)"""
    view = Negotiation(open_client(ctx), negotiation)
    new = view.sync()
    emit(options(ctx).as_json, {"negotiation_id": negotiation, "new_events": new},
         lambda: console.print(f"{negotiation}: {new} new events, verified."))


@negotiation_app.command("show")
def show(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """Parties (with trust state), members and log size of a negotiation, after a verified sync."""
    from parley.client.trust import describe, trust_rows

    client = open_client(ctx)
    state = client.sync_state(negotiation)
    shown = {row["party_id"]: row for row in trust_rows(client, negotiation)[0]}
    parties = []
    for party_id, party in sorted(state.parties.items(), key=lambda kv: kv[1].record.name):
        trust = shown[party_id]
        parties.append({
            "party_id": party_id, "name": party.record.name, "status": party.status,
            "fingerprint": fingerprint_digits(party.record.root_key),
            "verified": trust["verified"], "trust": describe(trust), "verified_by": trust["by"],
            "verified_at": trust["at"],
            "members": [{"member": c.member, "role": c.role, "removed": c.device_key_id in state.revoked}
                        for c in state.members.values() if c.party_id == party_id],
        })
    title = Negotiation(client, negotiation).title()
    view = {"negotiation_id": negotiation, "title": title, "size": state.size, "parties": parties}

    def human() -> None:
        console.print(f"[bold]{escape(title or '(untitled)')}[/bold]  {negotiation}: {state.size} events")
        for p in parties:
            flag = p["trust"] if p["verified"] else f"[bold red]{p['trust']}[/bold red]"
            console.print(f"  {p['name']} ({p['status']}, {flag}): "
                          + ", ".join(f"{m['member']} [{m['role']}]" for m in p["members"]))

    emit(options(ctx).as_json, view, human)


@message_app.command("send")
def send(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
         text: str = typer.Argument(..., help="Message text."),
         to: list[str] = typer.Option(None, "--to", help="Only these parties (repeatable); default: all.")) -> None:
    """Send an encrypted message to the parties of a negotiation."""
    client = open_client(ctx)
    parties = None
    if to:
        parties = sorted({resolve_party(client, p) for p in to} | {client.profile.party.party_id})
    posted = client.send_message(negotiation, text, parties=parties)
    emit(options(ctx).as_json, {"seq": posted.seq, "event_id": posted.event_id},
         lambda: console.print(f"Sent (event {posted.seq})."))


@message_app.command("list")
def list_messages(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """Messages you can read, after a verified sync."""
    client = open_client(ctx)
    client.sync(negotiation)
    rows = client.messages(negotiation)
    emit(options(ctx).as_json, rows, lambda: table(
        "Messages", ["#", "time", "from", "to", "text"],
        [(m["seq"], m["created"], f"{m['author']} ({m['party']})", ", ".join(m["audience"]),
          m["text"] + (f"  [granted by {m['granted_by']}]" if m.get("granted_by") else ""))
         for m in rows]))


@log_app.command("verify")
def verify(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """Re-verify the whole log from the local copy and the relay; exit 4 on any failure."""
    client = open_client(ctx)
    summary = verify_log(client, negotiation)
    emit(options(ctx).as_json, summary, lambda: console.print(
        f"{negotiation}: {summary['events']} events, size {summary['size']}, root {summary['root']}\n"
        f"result: [bold green]{summary['result']}[/bold green]"))


@log_app.command("checkpoint")
def checkpoint(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id.")) -> None:
    """Print the latest verified checkpoint (a C2SP signed note)."""
    client = open_client(ctx)
    result = client.sync(negotiation)
    emit(options(ctx).as_json, {"checkpoint": result.checkpoint}, lambda: print(result.checkpoint, end=""))
