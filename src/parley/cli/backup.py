"""``parley backup ...``: a recovery file of this profile, and its restoration on a new machine."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import typer

from parley.cli.common import open_client, options
from parley.cli.output import console, emit, err_console
from parley.crypto.keystore import check_passphrase_strength, passphrase_from_env_or_prompt
from parley.crypto.recovery import generate_recovery_key, recovery_kind
from parley.errors import ConfigError, ConflictError, InputError

app = typer.Typer(help="Recovery files: back up this profile's keys, pins and verified history; restore them.",
                  no_args_is_help=True)

#: the backup's own passphrase (never the keystore's ``PARLEY_PASSPHRASE``) and a recovery key, for scripts
BACKUP_PASSPHRASE_ENV = "PARLEY_BACKUP_PASSPHRASE"  # noqa: S105 - the variable name, not a secret
RECOVERY_KEY_ENV = "PARLEY_RECOVERY_KEY"


def _secret(env: str, prompt: str, *, new: bool) -> str:
    """Raises: ConfigError (no value and no terminal; two entries differ), InputError (too weak)."""
    value = os.environ.get(env)
    if not value:
        if not os.isatty(0):
            raise ConfigError(f"no {prompt.lower()}: set {env} or run from a terminal")
        value = getpass.getpass(f"{prompt}: ")
        if new and getpass.getpass("Repeat it: ") != value:
            raise ConfigError("the two entries differ; nothing was written")
    if new:
        check_passphrase_strength(value, source=env if os.environ.get(env) else "the backup passphrase")
    return value


@app.command("create")
def create(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Recovery file to write (must not exist)."),
    recovery_key: bool = typer.Option(False, "--recovery-key",
                                      help="Protect it with a generated recovery key, printed once, "
                                           "instead of a passphrase."),
) -> None:
    """Write this profile's keys, pinned parties and verified local copy into one encrypted recovery file."""
    from parley.client.backup import create_backup

    client = open_client(ctx)
    key = generate_recovery_key() if recovery_key else None
    passphrase = None if key else _secret(BACKUP_PASSPHRASE_ENV, "New passphrase for the backup", new=True)
    with client.lock:
        result = create_backup(client, out.expanduser(), passphrase=passphrase, recovery_key=key)
    if key:
        result["recovery_key"] = key

    def human() -> None:
        console.print(f"backed up {len(result['negotiations'])} negotiations to {result['file']} "
                      f"({result['bytes']} bytes, protected by {result['protected_by']})")
        if key:
            console.print(f"recovery key (shown ONCE; write it down and keep it apart from the file):\n"
                          f"[bold]{key}[/bold]")

    emit(options(ctx).as_json, result, human)


@app.command("restore")
def restore(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The recovery file."),
    profile: Path | None = typer.Option(None, "--profile", help="New profile folder (default: --home); "
                                        "must not hold a profile."),
    offline: bool = typer.Option(False, "--offline", help="Do not contact the relay (verify against the pins "
                                 "only; run 'parley log verify' later)."),
) -> None:
    """Restore a recovery file onto this machine; the log is verified again from scratch against its pins."""
    from parley.client.backup import restore_backup

    home = (profile or options(ctx).home).expanduser()
    path = file.expanduser()
    try:
        kind = recovery_kind(path.read_bytes()[:200])
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    secret = {"passphrase": _secret(BACKUP_PASSPHRASE_ENV, "Passphrase of the backup", new=False)} \
        if kind == "passphrase" else {"recovery_key": _secret(RECOVERY_KEY_ENV, "Recovery key", new=False)}
    from parley.client.profile import Profile

    if Profile.exists(home):
        raise ConflictError(f"a profile already exists in {home}: a restore never overwrites one",
                          hint="restore into a new, empty folder with --profile")
    new_passphrase = passphrase_from_env_or_prompt(confirm=True, whose=f"the restored profile {home}")
    result = restore_backup(path, home, new_passphrase=new_passphrase, check_relay=not offline, **secret)

    def human() -> None:
        console.print(f"restored {result['member']} ({result['party']}) into {result['home']}: "
                      f"{len(result['negotiations'])} negotiations verified from scratch against the pinned "
                      "checkpoints")
        if result["relay"] == "verified":
            console.print("the relay still serves exactly that history")
        else:
            err_console.print(f"relay: {result['relay']}")

    emit(options(ctx).as_json, result, human)
