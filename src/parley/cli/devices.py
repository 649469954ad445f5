"""``parley device ...``: a person's devices: link a new one by a short code, list them, remove a lost one."""

from __future__ import annotations

import typer

from parley.cli.common import confirm, open_client, options
from parley.cli.output import console, emit, table
from parley.crypto.keystore import passphrase_from_env_or_prompt
from parley.errors import InputError

app = typer.Typer(help="Your devices: link a new one with a short code, list them, remove a lost one.",
                  no_args_is_help=True)


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Your current devices (the same person to every party), each certificate checked to your party root."""
    from parley.client.devices import list_devices

    devices = list_devices(open_client(ctx))
    emit(options(ctx).as_json, devices, lambda: table(
        "Your devices", ["device key id", "linked by", "valid until", ""],
        [(d["device_key_id"], d["linked_by"] or "party root", d["not_after"], "this device" if d["this_device"] else "")
         for d in devices]))


@app.command("link")
def link_command(
    ctx: typer.Context,
    code: str | None = typer.Argument(None, help="On a device you hold: the code the new device shows."),
    new: bool = typer.Option(False, "--new", help="On the new device: start, and show the code to type."),
    finish: bool = typer.Option(False, "--finish", help="On the new device: collect the answer, write the profile."),
    relay: str | None = typer.Option(None, "--relay", help="With --new: the relay URL."),
    label: str = typer.Option("new device", "--label", help="With --new: a name for the new device."),
) -> None:
    """Link a new device to your membership: '--new' on it shows a code; type the code here on a device you
    hold ('parley device link CODE'); then '--finish' on the new device. The party root key is not needed."""
    from parley.client.devices import finish_link, link_device, load_pending, request_link

    opts = options(ctx)
    if sum((code is not None, new, finish)) != 1:
        raise InputError("give either a CODE (on a device you hold), --new or --finish (on the new device)")
    if new:
        if not relay:
            raise InputError("--new needs --relay URL (the relay your party uses)")
        pending = request_link(opts.home, relay, label=label, passphrase=passphrase_from_env_or_prompt(
            confirm=True, whose=f"the new device's profile {opts.home}"))
        emit(opts.as_json, {"code": pending.code, "home": str(opts.home)}, lambda: console.print(
            f"Type this code on a device you already hold:  [bold]{pending.code}[/bold]\n"
            f"  parley device link {pending.code}\n"
            f"then run 'parley --home {opts.home} device link --finish' here (within 10 minutes)."))
        return
    if finish:
        passphrase = passphrase_from_env_or_prompt(whose=f"the new device's profile {opts.home}")
        client = finish_link(load_pending(opts.home, passphrase), passphrase=passphrase)
        ctx.call_on_close(client.close)
        cert = client.identity.certificate
        result = {"home": str(opts.home), "member": cert.member, "role": cert.role,
                  "party": client.profile.party.name, "device_key_id": cert.device_key_id,
                  "negotiations": client.cache.negotiations()}
        emit(opts.as_json, result, lambda: console.print(
            f"This device is now {cert.member} ({cert.role}) of {result['party']}: device {cert.device_key_id}, "
            f"{len(result['negotiations'])} negotiations synced and verified."))
        return
    client = open_client(ctx)
    cert = link_device(client, code)
    emit(opts.as_json, {"device_key_id": cert.device_key_id, "member": cert.member, "not_after": cert.not_after},
         lambda: console.print(f"Linked device {cert.device_key_id} as {cert.member} until {cert.not_after}; "
                               "finish on the new device with 'parley device link --finish'."))


@app.command("remove")
def remove_command(
    ctx: typer.Context,
    device: str = typer.Argument(..., help="Device key id (see 'parley device list')."),
    reason: str = typer.Option("lost", "--reason", help="Why (recorded in the revocation)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Remove one of your devices (a lost laptop): revoked at the relay and in every negotiation at once."""
    from parley.client.devices import remove_device

    client = open_client(ctx)
    confirm(f"Remove device {device}? Its later posts will be refused everywhere.", yes)
    revocation = remove_device(client, device, reason)
    emit(options(ctx).as_json, revocation.to_obj(), lambda: console.print(
        f"Removed device {device} as of {revocation.revoked_at}."))
