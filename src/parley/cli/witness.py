"""``parley witness``: how far a negotiation's log is cosigned by its parties (C2SP tlog-cosignature), and
``parley witness cosign`` to witness it without acting (reads never post: docs/tlog.md)."""

from __future__ import annotations

import typer

from parley.cli.common import open_client, options
from parley.cli.output import console, emit, table
from parley.client.witness import cosign, witness_status
from parley.errors import ParleyError
from parley.protocol.witness import require_final

app = typer.Typer(help="Witnessed checkpoints: every party's client cosigns the log it verified, with its next act "
                       "or with 'parley witness cosign'.",
                  no_args_is_help=True)


@app.command("status")
def status(ctx: typer.Context, negotiation: str = typer.Argument(..., help="Negotiation id."),
           quorum: str = typer.Option("all", "--quorum", metavar="all|K",
                                      help="Parties whose cosignatures make the log final."),
           require: bool = typer.Option(False, "--require", help="Exit 4 unless the whole log is final.")) -> None:
    """Sync, then show which parties cosigned how much of the log you verified (reads only: to add your own
    cosignature, 'parley witness cosign')."""
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


@app.command("cosign")
def cosign_command(ctx: typer.Context, negotiation: str | None = typer.Argument(
        None, help="Negotiation id (default: every negotiation of this profile's local copy).")) -> None:
    """Sync, then post your cosignature of the log you verified: witness it without acting (your acts carry it
    anyway). Until every party a policy names cosigned, nothing they did not cosign is final."""
    client = open_client(ctx)
    negotiations = [negotiation] if negotiation else client.cache.negotiations()
    report: list[dict] = []
    failures: list[ParleyError] = []
    for nid in negotiations:
        try:
            report.append({"negotiation_id": nid, "cosigned_size": cosign(client, nid),
                           "size": (client.cache.checkpoint(nid) or (0,))[0]})
        except ParleyError as exc:
            if negotiation:
                raise
            # every negotiation is tried: one the relay refuses or cannot verify does not leave the others unwitnessed
            failures.append(exc)
            report.append({"negotiation_id": nid, "error": exc.code, "message": exc.message})

    def human() -> None:
        for row in report:
            if "error" in row:
                console.print(f"{row['negotiation_id']}: not cosigned: {row['message']}", markup=False)
                continue
            done = row["cosigned_size"]
            console.print(f"{row['negotiation_id']}: " + (f"cosigned at size {done}" if done is not None else
                                                           f"already cosigned at size {row['size']}"))
        if not report:
            console.print("no negotiation in this profile's local copy")

    emit(options(ctx).as_json, report, human)
    if failures:  # the exit code of the first failure, once every negotiation was tried and reported
        raise failures[0]
