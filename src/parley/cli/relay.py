"""``parley relay ...``: run a relay, issue enrolment tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from parley.cli.common import options
from parley.cli.output import console, emit
from parley.protocol.times import format_time
from parley.relay.server import RelayConfig, load_or_create_signer, open_relay_store, serve

app = typer.Typer(help="Run a relay and manage its enrolments.", no_args_is_help=True)

DATA_HELP = "Relay data folder (key, default SQLite database)."
DB_HELP = "Database: a SQLite file path or a postgresql:// URL (default: DATA/relay.db)."


@app.command("serve")
def serve_command(
    data: Path = typer.Option(Path("~/.parley-relay"), "--data", help=DATA_HELP),
    database: str | None = typer.Option(None, "--database", help=DB_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8470, "--port", help="TCP port."),
    name: str | None = typer.Option(None, "--name", help="Relay name, the first part of checkpoint origins."),
) -> None:
    """Serve the relay API until interrupted."""
    config = RelayConfig.from_options(data, database, name)
    signer = load_or_create_signer(config)
    console.print(f"parley relay '{config.name}' on http://{host}:{port}  (checkpoint key: {signer.vkey()})")
    serve(config, host, port)


@app.command("invite-party")
def invite_party(
    ctx: typer.Context,
    party_name: str = typer.Argument(..., help="The party's name, exactly as it will enrol."),
    data: Path = typer.Option(Path("~/.parley-relay"), "--data", help=DATA_HELP),
    database: str | None = typer.Option(None, "--database", help=DB_HELP),
    name: str | None = typer.Option(None, "--name", help="Relay name."),
) -> None:
    """Print a one-time enrolment token for a party (give it to the party's administrator)."""
    config = RelayConfig.from_options(data, database, name)
    store = open_relay_store(config)
    try:
        token = store.create_enrol_token(party_name, format_time(datetime.now(UTC)))
    finally:
        store.close()
    emit(options(ctx).as_json, {"party": party_name, "token": token},
         lambda: console.print(f"One-time enrolment token for '{party_name}':\n{token}"))


@app.command("info")
def info(
    ctx: typer.Context,
    data: Path = typer.Option(Path("~/.parley-relay"), "--data", help=DATA_HELP),
    name: str | None = typer.Option(None, "--name", help="Relay name."),
) -> None:
    """Print the relay's checkpoint verifier key (publish it so members can check it out of band)."""
    config = RelayConfig.from_options(data, None, name)
    signer = load_or_create_signer(config)
    emit(options(ctx).as_json, {"name": config.name, "vkey": signer.vkey()},
         lambda: console.print(signer.vkey()))
