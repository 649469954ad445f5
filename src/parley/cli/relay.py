"""``parley relay ...``: create and run a relay, migrate its database, issue enrolment tokens.

Every setting is a flag, a ``PARLEY_RELAY_*`` variable of the same name, or a key of the configuration
file (``--config``): see ``parley.relay.config`` and docs/operator-guide.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from parley.cli.common import options
from parley.cli.output import console, emit, err_console
from parley.errors import TransportError
from parley.extras import require
from parley.protocol.times import format_time
from parley.relay.config import CONFIG_ENV, ENV_PREFIX, SETTINGS, RelayConfig, load_config

app = typer.Typer(help="Create and run a relay, migrate its database, manage its enrolments.",
                  no_args_is_help=True)


@app.callback()
def _relay_libraries() -> None:
    require("relay", "running a relay")


def _option(name: str, **extra: Any) -> Any:
    flag = "--" + name.replace("_", "-")
    return typer.Option(flag, envvar=ENV_PREFIX + name.upper(), help=SETTINGS[name][1], **extra)


ConfigOpt = Annotated[Path | None, typer.Option("--config", envvar=CONFIG_ENV,
                                                   help="A parley-relay.toml with the relay's settings.")]
DataOpt = Annotated[Path | None, _option("data")]
DatabaseOpt = Annotated[str | None, _option("database")]
NameOpt = Annotated[str | None, _option("name")]


def _config(config_file: Path | None, **flags: Any) -> RelayConfig:
    # typer already put each PARLEY_RELAY_* variable it knows into its flag; load_config reads the others.
    return load_config(flags, config_file=config_file)


@app.command("init")
def init_command(ctx: typer.Context, config_file: ConfigOpt = None, data: DataOpt = None,
                 database: DatabaseOpt = None, name: NameOpt = None) -> None:
    """Create a relay: its data folder, its checkpoint key and its database schema (once)."""
    from parley.relay.server import init_relay

    config = _config(config_file, data=data, database=database, name=name)
    signer, applied = init_relay(config)
    result = {"name": config.name, "data": str(config.data_dir), "vkey": signer.vkey(),
              "migrations": [revision for revision, _ in applied]}
    emit(options(ctx).as_json, result, lambda: console.print(
        f"created relay '{config.name}' in {config.data_dir}\ncheckpoint key: {signer.vkey()}\n"
        f"publish the key so members can check it; keep {config.key_path} secret and backed up"))


@app.command("serve")
def serve_command(
    config_file: ConfigOpt = None, data: DataOpt = None, database: DatabaseOpt = None, name: NameOpt = None,
    host: Annotated[str | None, _option("host")] = None,
    port: Annotated[int | None, _option("port")] = None,
    rate: Annotated[float | None, _option("rate")] = None,
    burst: Annotated[int | None, _option("burst")] = None,
    http: Annotated[str | None, _option("http")] = None,
    limit_concurrency: Annotated[int | None, _option("limit_concurrency")] = None,
    workers: Annotated[int | None, _option("workers", min=1)] = None,
    log_format: Annotated[str | None, _option("log_format")] = None,
    log_level: Annotated[str | None, _option("log_level")] = None,
    log_ids: Annotated[bool | None, typer.Option("--log-ids/--no-log-ids", envvar=ENV_PREFIX + "LOG_IDS",
                                                 help=SETTINGS["log_ids"][1])] = None,
) -> None:
    """Serve the relay API until interrupted (its database must be migrated: 'parley relay migrate')."""
    from parley.relay.server import load_signer, open_relay_store, serve

    config = _config(config_file, data=data, database=database, name=name, host=host, port=port, rate=rate,
                     burst=burst, http=http, limit_concurrency=limit_concurrency, workers=workers,
                     log_format=log_format, log_level=log_level, log_ids=log_ids)
    signer = load_signer(config)
    open_relay_store(config).close()  # refuses an unmigrated or newer schema before anything listens
    typer.echo(f"parley relay '{config.name}' on http://{config.host}:{config.port}  "
               f"(checkpoint key: {signer.vkey()})", err=True)
    if config.workers > 1:
        from parley.relay.workers import serve_workers

        typer.echo(f"{config.workers} worker processes, one writer", err=True)
        raise typer.Exit(serve_workers(config))
    serve(config)


@app.command("migrate")
def migrate_command(
    ctx: typer.Context, config_file: ConfigOpt = None, data: DataOpt = None, database: DatabaseOpt = None,
    name: NameOpt = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="List the pending revisions; change nothing."),
) -> None:
    """Bring the relay database to the schema this version of parley needs (back it up first)."""
    from parley.relay.server import load_signer, open_relay_store

    config = _config(config_file, data=data, database=database, name=name)
    load_signer(config)
    store = open_relay_store(config, require_current=False)
    try:
        current = store.schema_revision()
        steps = store.pending_revisions() if dry_run else store.migrate()
    finally:
        store.close()
    result = {"from": current, "revisions": [{"revision": r, "description": d} for r, d in steps],
              "dry_run": dry_run}

    def human() -> None:
        if not steps:
            console.print(f"the relay database is current (schema revision {current})")
            return
        verb = "pending" if dry_run else "applied"
        console.print(f"{len(steps)} revision(s) {verb} (from {current or 'an empty database'}):")
        for revision, description in steps:
            console.print(f"  {revision}  {description}")

    emit(options(ctx).as_json, result, human)


@app.command("invite-party")
def invite_party(
    ctx: typer.Context,
    party_name: str = typer.Argument(..., help="The party's name, exactly as it will enrol."),
    config_file: ConfigOpt = None, data: DataOpt = None, database: DatabaseOpt = None, name: NameOpt = None,
) -> None:
    """Print a one-time enrolment token for a party (give it to the party's administrator)."""
    from parley.relay.server import load_signer, open_relay_store

    config = _config(config_file, data=data, database=database, name=name)
    load_signer(config)
    store = open_relay_store(config)
    try:
        token = store.create_enrol_token(party_name, format_time(datetime.now(UTC)))
    finally:
        store.close()

    def human() -> None:
        err_console.print(f"One-time enrolment token for '{party_name}' (give it to its administrator):")
        print(token)  # alone on standard output: TOKEN=$(parley relay invite-party ...)

    emit(options(ctx).as_json, {"party": party_name, "token": token}, human)


@app.command("ping")
def ping(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="Relay URL, e.g. http://127.0.0.1:8470"),
    wait: float = typer.Option(0, "--wait", min=0, help="Keep trying this many seconds (a relay starting up)."),
) -> None:
    """Check that a relay answers (its /healthz); exit 7 when it does not."""
    import time

    import httpx

    deadline = time.monotonic() + wait
    while True:
        try:
            answer = httpx.get(url.rstrip("/") + "/healthz", timeout=5)
            if answer.status_code == 200:
                break
            problem = f"answered HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            problem = f"did not answer ({type(exc).__name__})"
        if time.monotonic() >= deadline:
            raise TransportError(f"the relay at {url} {problem}",
                                 hint="start it with 'parley relay serve', or check the URL")
        time.sleep(0.2)
    emit(options(ctx).as_json, {"url": url, "status": "ok"}, lambda: console.print(f"relay at {url}: ok"))


@app.command("info")
def info(ctx: typer.Context, config_file: ConfigOpt = None, data: DataOpt = None, name: NameOpt = None) -> None:
    """Print the relay's checkpoint verifier key (publish it so members can check it out of band)."""
    from parley.relay.server import load_signer

    config = _config(config_file, data=data, name=name)
    signer = load_signer(config)
    emit(options(ctx).as_json, {"name": config.name, "vkey": signer.vkey()},
         lambda: console.print(signer.vkey()))


@app.command("backup")
def backup_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Backup file to write (must not exist)."),
    config_file: ConfigOpt = None, data: DataOpt = None, database: DatabaseOpt = None, name: NameOpt = None,
) -> None:
    """Back up the relay database while it runs (one consistent snapshot; never migrates it).

    SQLite: a SQLite file made with the online backup API. PostgreSQL: JSON lines (gzip) from one
    REPEATABLE READ snapshot. The checkpoint key (DATA/relay.key) is NOT included: back it up separately.
    """
    from parley.relay.backup import backup
    from parley.relay.server import load_signer

    config = _config(config_file, data=data, database=database, name=name)
    load_signer(config)
    result = backup(config.database, file.expanduser())
    emit(options(ctx).as_json, result, lambda: console.print(
        f"backed up {sum(result['rows'].values())} rows ({result['format']}) to {result['file']}\n"
        f"the relay key {config.key_path} is not in the backup: keep a copy of it separately"))


@app.command("restore")
def restore_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A backup made by 'parley relay backup'."),
    config_file: ConfigOpt = None, data: DataOpt = None, database: DatabaseOpt = None, name: NameOpt = None,
) -> None:
    """Restore a backup into an empty relay database (SQLite or PostgreSQL, either backup format).

    The relay's key is not in a backup: copy the relay's relay.key into the data folder first.
    """
    from parley.relay.backup import restore
    from parley.relay.server import load_signer

    config = _config(config_file, data=data, database=database, name=name)
    load_signer(config)
    result = restore(file.expanduser(), config.database)
    emit(options(ctx).as_json, result, lambda: console.print(
        f"restored {sum(result['rows'].values())} rows into the relay database"))
