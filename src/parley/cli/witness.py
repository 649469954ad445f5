"""``parley witness``: how far a negotiation's log is cosigned by its parties (C2SP tlog-cosignature)."""

from __future__ import annotations

import typer

from parley.cli.common import open_client, options
from parley.cli.output import console, emit, table
from parley.client.witness import witness_status
from parley.protocol.witness import require_final

app = typer.Typer(help="Witnessed checkpoints: every party's client cosigns the log it verified.",
                  no_args_is_help=True)


@app.command("status")
def status(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
           quorum: str = typer.Option("all", "--quorum", metavar="all|K",
                                      help="Parties whose cosignatures make the log final."),
           require: bool = typer.Option(False, "--require", help="Exit 4 unless the whole log is final.")) -> None:
    """Sync (and cosign), then show which parties cosigned how much of the log you verified."""
    client = open_client(ctx)
    result = witness_status(client, negotiation, quorum)
    state = client.state(negotiation)
    names = {pid: p.record.name for pid, p in state.parties.items()}
    report = {"negotiation_id": negotiation, "size": result.size, "required": result.required,
              "final_size": result.final_size, "final": result.final,
              "witnessed": {names.get(p, p): result.witnessed.get(p, 0) for p in result.parties}}

    def human() -> None:
        table("Cosigned by", ["party", "cosigned up to size", "whole log"],
              [(names.get(p, p), result.witnessed.get(p, 0), "yes" if result.witnessed.get(p, 0) >= result.size
                else "no") for p in result.parties])
        verdict = "[bold green]final[/bold green]" if result.final else "[bold yellow]not final[/bold yellow]"
        console.print(f"{negotiation}: size {result.size}, final up to {result.final_size} "
                      f"({result.required} of {len(result.parties)} parties required): {verdict}")

    emit(options(ctx).as_json, report, human)
    if require:
        require_final(result)
