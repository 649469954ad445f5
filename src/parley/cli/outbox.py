"""``parley outbox``: acts made while the relay was away, pending, posted or refused."""

from __future__ import annotations

import typer

from parley.cli.common import open_client, options
from parley.cli.output import console, emit, table


def outbox_command(
    ctx: typer.Context,
    flush: bool = typer.Option(False, "--flush", help="Post what is pending now (in order)."),
) -> None:
    """Acts made while the relay could not be reached: pending ones are posted in order when it is back
    (by the next command, or now with --flush); refused ones say why. None is lost or posted twice."""
    from parley.client import offline

    client = open_client(ctx)  # posts what is pending, in order, when the relay answers
    if flush:
        offline.flush(client)
    rows = offline.items(client)

    def outcome(row: dict) -> str:
        result = row["result"] or {}
        if row["state"] == "posted":
            return f"event {result.get('seq')}"
        return result.get("message", "") if row["state"] == "refused" else "waits for the relay"

    emit(options(ctx).as_json, rows, lambda: table(
        "Outbox", ["#", "queued", "negotiation", "act", "state", ""],
        [(r["id"], r["queued_at"], r["negotiation_id"], r["type"], r["state"], outcome(r)) for r in rows])
        if rows else console.print("The outbox is empty."))
