"""``parley key ...``: export this device's age identity for interoperability."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from parley.cli.common import open_client, options
from parley.cli.output import console, emit
from parley.errors import ConfigError

key_app = typer.Typer(help="This device's keys.", no_args_is_help=True)


@key_app.command("export-identity")
def export_identity(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="File to write (created with mode 0600; must not exist)."),
) -> None:
    """Write this device's age identity (AGE-SECRET-KEY-1...) so `age -d -i FILE` can open its ciphertexts.

    The file is a secret key in clear: keep it on an encrypted disk and delete it after use.
    """
    client = open_client(ctx)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{out} exists already; refusing to overwrite a key file") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(f"# parley device {client.identity.device_key_id} ({client.profile.member})\n")
        handle.write(client.identity.encryption.identity + "\n")
    emit(options(ctx).as_json, {"file": str(out), "recipient": client.identity.encryption.recipient},
         lambda: console.print(f"Wrote {out} (mode 0600). Recipient: {client.identity.encryption.recipient}"))
