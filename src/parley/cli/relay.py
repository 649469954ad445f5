"""``parley relay ...``: run a relay, issue enrolment tokens."""

from __future__ import annotations

from dataclasses import replace
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
    rate: float | None = typer.Option(None, "--rate", envvar="PARLEY_RELAY_RATE",
                                      help="Requests per second per device (token bucket; 0 = no limit)."),
    burst: int | None = typer.Option(None, "--burst", envvar="PARLEY_RELAY_BURST",
                                     help="Burst of requests per device above the rate."),
    http: str = typer.Option("auto", "--http", help="HTTP parser: auto, h11 (caps headers at 16 KiB) or httptools."),
    limit_concurrency: int | None = typer.Option(None, "--limit-concurrency",
                                                 help="Answer 503 beyond this many open connections."),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="HTTP worker processes sharing one writer (2 or more use more cores)."),
) -> None:
    """Serve the relay API until interrupted."""
    config = RelayConfig.from_options(data, database, name)
    if rate is not None or burst is not None:
        config = replace(config, limits=replace(
            config.limits, rate_per_device=config.limits.rate_per_device if rate is None else rate,
            rate_burst=config.limits.rate_burst if burst is None else burst))
    signer = load_or_create_signer(config)
    console.print(f"parley relay '{config.name}' on http://{host}:{port}  (checkpoint key: {signer.vkey()})")
    if workers > 1:
        from parley.relay.workers import serve_workers

        console.print(f"{workers} worker processes, one writer")
        raise typer.Exit(serve_workers(config, host, port, workers, http=http, limit_concurrency=limit_concurrency))
    serve(config, host, port, http=http, limit_concurrency=limit_concurrency)


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


@app.command("backup")
def backup_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Backup file to write (must not exist)."),
    data: Path = typer.Option(Path("~/.parley-relay"), "--data", help=DATA_HELP),
    database: str | None = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Back up the relay database while it runs (one consistent snapshot).

    SQLite: a SQLite file made with the online backup API. PostgreSQL: JSON lines (gzip) from one
    REPEATABLE READ snapshot. The checkpoint key (DATA/relay.key) is NOT included: back it up separately.
    """
    from parley.relay.backup import backup

    config = RelayConfig.from_options(data, database, None)
    result = backup(config.database, file.expanduser())
    emit(options(ctx).as_json, result, lambda: console.print(
        f"backed up {sum(result['rows'].values())} rows ({result['format']}) to {result['file']}\n"
        f"the relay key {config.data_dir / 'relay.key'} is not in the backup: keep a copy of it separately"))


@app.command("restore")
def restore_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A backup made by 'parley relay backup'."),
    data: Path = typer.Option(Path("~/.parley-relay"), "--data", help=DATA_HELP),
    database: str | None = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Restore a backup into an empty relay database (SQLite or PostgreSQL, either backup format)."""
    from parley.relay.backup import restore

    config = RelayConfig.from_options(data, database, None)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    result = restore(file.expanduser(), config.database)
    emit(options(ctx).as_json, result, lambda: console.print(
        f"restored {sum(result['rows'].values())} rows into {config.database}"))
